"""The placeholder syntax of target templates, shared by loading and rendering.

A template string is literal text with ``{name}`` placeholders; ``{{`` and ``}}`` stand
for literal braces. A lone brace is an error rather than literal text, so that a typo
such as ``"{port"`` is caught when the file is loaded instead of being sent as-is.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Placeholder", "split", "unknown_placeholder"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A ``{name}`` in a template."""

    name: str


@functools.lru_cache(maxsize=1024)  # the same few templates are filled for every request
def split(text: str) -> tuple[str | Placeholder, ...]:
    """The literal pieces (braces unescaped) and placeholders of ``text``, in order.

    Raises:
        ValueError: a lone ``{`` or ``}``; the message says where and how to escape it.
    """
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        token = match.group(0)
        if token in {"{{", "}}"}:
            literal.append(token[0])
        elif match.group(1) is not None:
            if any(literal):
                parts.append("".join(literal))
            literal = []
            parts.append(Placeholder(match.group(1)))
        else:
            raise ValueError(
                f"lone {token!r} at position {match.start()} in {text!r} "
                f"(write {token * 2!r} for a literal brace)"
            )
        position = match.end()
    literal.append(text[position:])
    if any(literal):
        parts.append("".join(literal))
    return tuple(parts)


def unknown_placeholder(name: str, known: Iterable[str], *, shown: str | None = None) -> str:
    """The problem text for an unknown placeholder, with a suggestion if one is close.

    ``shown`` replaces the list of ``known`` names in the text when that list is long.
    """
    candidates = sorted(known)
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"did you mean '{{{close[0]}}}'? " if close else ""
    listed = shown or ", ".join(f"{{{c}}}" for c in candidates)
    return f"unknown placeholder '{{{name}}}' ({hint}known: {listed})"
