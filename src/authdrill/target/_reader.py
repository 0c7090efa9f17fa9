"""Typed reading of a parsed TOML document, where every error names file and key.

Checkers have the shape ``check(value, where) -> T``: they return the value converted to
what the model holds, or raise :class:`~authdrill.errors.TargetFileError` at ``where``
saying what was expected and what was found.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from authdrill.errors import TargetFileError

__all__ = [
    "MISSING",
    "Table",
    "Where",
    "describe",
    "expect_dict",
    "expect_dotted",
    "expect_int",
    "expect_list",
    "expect_path",
    "expect_seconds",
    "expect_str",
    "expect_str_list",
    "expect_str_table",
    "service_ref",
    "table_of",
]

T = TypeVar("T")
_SHORT = 40


class _Missing(enum.Enum):
    MISSING = enum.auto()


MISSING = _Missing.MISSING  # "no default": the key is required


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a target file: the file and the dotted key (``""`` for the file)."""

    source: str
    key: str

    def child(self, name: str) -> Where:
        return Where(self.source, f"{self.key}.{name}" if self.key else name)

    def item(self, index: int) -> Where:
        return Where(self.source, f"{self.key}[{index}]")

    def error(self, problem: str) -> TargetFileError:
        return TargetFileError(self.source, self.key, problem)


def describe(value: Any) -> str:
    """A TOML value in words, with the value itself when short: ``integer 5``, ``table``."""
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    names = {int: "integer", float: "float", str: "string"}
    kind = names.get(type(value), "date/time")  # tomllib's only other values are dates/times
    text = repr(value) if isinstance(value, str) else str(value)
    return f"{kind} {text if len(text) <= _SHORT else text[: _SHORT - 3] + '...'}"


def expect_str(value: Any, where: Where, *, what: str = "a string", empty: bool = False) -> str:
    if not isinstance(value, str):
        raise where.error(f"expected {what}, got {describe(value)}")
    if not value and not empty:
        raise where.error("must not be empty")
    return value


def expect_path(value: Any, where: Where) -> str:
    text = expect_str(value, where, what="a path starting with '/'")
    if not text.startswith("/"):
        raise where.error(f"must start with '/', got {text!r}")
    return text


def expect_dotted(value: Any, where: Where) -> str:
    text = expect_str(value, where, what="a dotted path (like 'data.token')")
    if not all(text.split(".")):
        raise where.error(f"{text!r} is not a dotted path like 'data.token' (empty part)")
    return text


def expect_int(value: Any, where: Where, *, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(f"expected {what}, got {describe(value)}")
    if not low <= value <= high:
        raise where.error(f"must be between {low} and {high}, got {value}")
    return value


def expect_seconds(value: Any, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"expected a number of seconds, got {describe(value)}")
    if not (math.isfinite(value) and value > 0):
        raise where.error(f"must be a number of seconds > 0, got {value}")
    return float(value)


def expect_list(value: Any, where: Where, *, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise where.error(f"expected {what}, got {describe(value)}")
    return value


def expect_dict(value: Any, where: Where, *, what: str = "a table") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise where.error(f"expected {what}, got {describe(value)}")
    return value


def expect_str_list(value: Any, where: Where) -> tuple[str, ...]:
    items = expect_list(value, where, what="a list of strings")
    return tuple(expect_str(item, where.item(i)) for i, item in enumerate(items))


def expect_str_table(value: Any, where: Where) -> dict[str, str]:
    table = expect_dict(value, where, what="a table of strings")
    return {name: expect_str(v, where.child(name), empty=True) for name, v in table.items()}


def _unknown_key(name: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    if close:
        return f"unknown key {name!r} (did you mean {close[0]!r}?)"
    return f"unknown key {name!r} (known keys: {', '.join(allowed)})"


class Table:
    """One TOML table of a target file; unknown keys are refused on construction."""

    def __init__(self, data: dict[str, Any], where: Where, allowed: Collection[str]) -> None:
        self.data = data
        self.at = where
        for name in data:
            if name not in allowed:
                raise where.child(name).error(_unknown_key(name, allowed))

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def where(self, name: str) -> Where:
        return self.at.child(name)

    def read(
        self, name: str, check: Callable[[Any, Where], T], default: T | _Missing = MISSING
    ) -> T:
        """``check`` applied to the value of ``name``, else ``default`` (required if none)."""
        if name in self.data:
            return check(self.data[name], self.where(name))
        if isinstance(default, _Missing):
            raise self.where(name).error("required key is missing")
        return default


def table_of(allowed: Collection[str], *, what: str = "a table") -> Callable[[Any, Where], Table]:
    """A checker for a sub-table that may hold only the ``allowed`` keys."""

    def check(value: Any, where: Where) -> Table:
        return Table(expect_dict(value, where, what=what), where, allowed)

    return check


def service_ref(names: tuple[str, ...]) -> Callable[[Any, Where], str]:
    """A checker for the name of one of the target's services."""

    def check(value: Any, where: Where) -> str:
        name = expect_str(value, where, what="a service name")
        if name not in names:
            raise where.error(f"unknown service {name!r} (services: {', '.join(names)})")
        return name

    return check
