"""Every module's ``__all__`` names only what it defines, in sorted order."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import authdrill

# Importing these runs a program (they are entry points), so they are not walked.
SKIPPED = frozenset(
    {
        "authdrill.__main__",
        "authdrill.stack.auth.__main__",
        "authdrill.stack.backend.__main__",
        "authdrill.process._launch",
    }
)


def ruf022_key(name: str) -> tuple[int, tuple[str | int, ...]]:
    """ruff's RUF022 "isort-style" order: CONSTANTS, then Classes, then the rest.

    Within each group the order is natural (digit runs compare as numbers), as in
    ruff's ``IsortSortKey`` (``InferredMemberType`` then ``natord::compare``).
    """
    if len(name) > 1 and name.isupper():
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    parts = re.split(r"(\d+)", name)
    return category, tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def test_ruf022_key_orders_like_ruff() -> None:
    """The sort key puts constants, classes, then others first, digits naturally."""
    names = ["b64url_encode", "Option", "MAX_2", "x10", "MAX_10", "A", "x9", "Ab", "_private"]
    assert sorted(names, key=ruf022_key) == [
        "MAX_2",
        "MAX_10",
        "A",
        "Ab",
        "Option",
        "_private",
        "b64url_encode",
        "x9",
        "x10",
    ]


def module_names() -> list[str]:
    walked = pkgutil.walk_packages(authdrill.__path__, prefix="authdrill.")
    return sorted(["authdrill", *(info.name for info in walked if info.name not in SKIPPED)])


MODULES = module_names()


def test_the_walk_finds_the_package() -> None:
    """The walk sees the modules of the package (guards against an empty walk)."""
    assert "authdrill.stack.jose" in MODULES
    assert "authdrill.stack.auth.keyring" in MODULES
    assert not SKIPPED & set(MODULES)


def exported(name: str) -> tuple[ModuleType, list[str]] | None:
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)
    return None if names is None else (module, list(names))


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    """Each name in ``__all__`` is an attribute of the module, listed once."""
    found = exported(name)
    if found is None:
        return  # a module without __all__ makes no promise to check
    module, names = found
    assert all(isinstance(n, str) for n in names)
    assert [n for n in names if not hasattr(module, n)] == []
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted(name: str) -> None:
    """``__all__`` is in ruff's RUF022 order, the one ``ruff check`` enforces on src."""
    found = exported(name)
    if found is None:
        return
    _, names = found
    assert names == sorted(names, key=ruf022_key)
