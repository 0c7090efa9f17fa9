"""Targets that ship with authdrill, and resolving what a user names as a target.

Built-ins are TOML files in :mod:`authdrill.target.builtin`, read as package data, so
they work the same from a source tree, a wheel or a zip.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from authdrill.errors import TargetFileError
from authdrill.target._load import load_target, parse_target
from authdrill.target._model import Target

__all__ = ["builtin_names", "builtin_target", "resolve_target"]

_PACKAGE = "authdrill.target.builtin"
_PREFIX = "builtin:"
# The `authdrill init` template lives next to the targets but starts commands that do
# not exist (./bin/my-auth): it is a starting point, not a target one can run.
_NOT_TARGETS = frozenset({"starter"})


_BROKEN = "broken-"


def _broken_variants() -> dict[str, tuple[str, str]]:
    from authdrill.stack.broken import VARIANTS  # noqa: PLC0415 - the stack is optional here

    return {f"{_BROKEN}{name}": spec for name, spec in VARIANTS.items()}


def builtin_names() -> list[str]:
    """The names of the built-in targets, sorted (``reference`` and ``broken-*``)."""
    files = resources.files(_PACKAGE)
    stems = (p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml"))
    return sorted([*(stem for stem in stems if stem not in _NOT_TARGETS), *_broken_variants()])


def _derive_broken(name: str, service: str, module: str) -> Target:
    """The reference target with ``service`` run from the broken ``module``."""
    base = builtin_target("reference")
    spec = base.services[service]
    command = tuple(
        module if part.startswith("authdrill.stack.") else part for part in spec.command
    )
    services = {**base.services, service: dataclasses.replace(spec, command=command)}
    return dataclasses.replace(base, name=name, source=f"{_PREFIX}{name}", services=services)


def builtin_target(name: str = "reference") -> Target:
    """The built-in target ``name``, its source ``builtin:<name>``.

    Raises:
        TargetFileError: there is no built-in of that name (the message lists them).
    """
    source = f"{_PREFIX}{name}"
    variants = _broken_variants()
    if name in variants:
        return _derive_broken(name, *variants[name])
    names = builtin_names()
    if name not in names:
        problem = f"no built-in target {name!r} (built-ins: {', '.join(names)})"
        raise TargetFileError(source, "", problem)
    text = resources.files(_PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse_target(text, source=source)


def resolve_target(spec: str | Path | None) -> Target:
    """The target a user named: ``None`` is the reference stack, ``"builtin:<name>"`` a
    built-in, anything else the path of a target file.

    Raises:
        TargetFileError: an unknown built-in, or a file that cannot be read or is invalid.
    """
    if spec is None:
        return builtin_target()
    if isinstance(spec, str) and spec.startswith(_PREFIX):
        return builtin_target(spec.removeprefix(_PREFIX))
    return load_target(spec)
