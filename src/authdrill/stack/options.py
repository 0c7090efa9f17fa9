"""Declarative command-line options with environment-variable fallbacks.

Each service declares its options once (:class:`Option`); :func:`parse_options` turns
``argv`` plus the environment into a plain ``dict`` of validated values, raising
:class:`~authdrill.errors.ConfigError` naming the flag *and* the variable when a value is
bad. Precedence: flag, then environment variable, then default.

The converters here are pure functions ``str -> value`` that raise :class:`ValueError`
with a message meant for a person.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from authdrill.errors import ConfigError

__all__ = [
    "Option",
    "choice",
    "fraction",
    "http_url",
    "log_level",
    "non_negative_float",
    "parse_options",
    "path",
    "port",
    "positive_float",
    "positive_int",
    "text",
]


@dataclass(frozen=True, slots=True)
class Option:
    """One option: ``--flag`` on the command line, ``env`` in the environment.

    Attributes:
        dest: the key in the parsed result.
        flag: the command-line flag, e.g. ``--port``.
        env: the environment variable, e.g. ``AUTHDRILL_AUTH_PORT``.
        convert: turns the raw string into a value; raises ``ValueError`` when bad.
        default: the value when neither flag nor variable is given (not converted).
        help: one line for ``--help``.
        repeat: the flag may be given several times (and the variable holds a
            comma-separated list); the result is a tuple.
    """

    dest: str
    flag: str
    env: str
    convert: Callable[[str], Any]
    default: Any
    help: str
    repeat: bool = False


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so callers decide."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError("arguments", message)


def parse_options(
    prog: str,
    description: str,
    options: Sequence[Option],
    argv: Sequence[str],
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Parse ``argv`` and ``environ`` into validated values keyed by ``Option.dest``.

    ``--help`` prints usage and raises :class:`SystemExit` (status 0), as usual.

    Raises:
        ConfigError: an unknown flag, or a value its converter rejects; the key is the
            flag or the environment variable the bad value came from.
    """
    parser = _Parser(prog=prog, description=description)
    for opt in options:
        parser.add_argument(
            opt.flag,
            dest=opt.dest,
            action="append" if opt.repeat else "store",
            default=None,
            metavar=opt.dest.upper(),
            help=f"{opt.help} [env {opt.env}; default {opt.default!r}]",
        )
    namespace = parser.parse_args(list(argv))
    values: dict[str, Any] = {}
    for opt in options:
        raw = getattr(namespace, opt.dest)
        source = opt.flag
        if raw is None and opt.env in environ:
            raw = environ[opt.env]
            source = opt.env
            if opt.repeat:
                raw = [part.strip() for part in raw.split(",") if part.strip()]
        if raw is None:
            values[opt.dest] = opt.default
            continue
        try:
            if opt.repeat:
                values[opt.dest] = tuple(opt.convert(item) for item in raw)
            else:
                values[opt.dest] = opt.convert(raw)
        except ValueError as exc:
            raise ConfigError(source, str(exc)) from exc
    return values


def text(raw: str) -> str:
    """A non-empty string without surrounding whitespace."""
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def port(raw: str) -> int:
    """A TCP port, 0..65535 (0 asks the OS for a free port)."""
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a port number") from None
    if not 0 <= value <= 65535:  # noqa: PLR2004 - the TCP port range
        raise ValueError(f"{value} is outside 0..65535")
    return value


def positive_int(raw: str) -> int:
    """An integer > 0."""
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an integer") from None
    if value <= 0:
        raise ValueError(f"{value} must be > 0")
    return value


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def positive_float(raw: str) -> float:
    """A finite number > 0."""
    value = _float(raw)
    if value <= 0:
        raise ValueError(f"{value:g} must be > 0")
    return value


def non_negative_float(raw: str) -> float:
    """A finite number >= 0."""
    value = _float(raw)
    if value < 0:
        raise ValueError(f"{value:g} must be >= 0")
    return value


def fraction(raw: str) -> float:
    """A number in (0, 1]."""
    value = _float(raw)
    if not 0 < value <= 1:
        raise ValueError(f"{value:g} must be in (0, 1]")
    return value


def http_url(raw: str) -> str:
    """An absolute ``http://`` or ``https://`` URL, returned without a trailing slash."""
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{raw!r} is not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - accessing .port validates it
    except ValueError:
        raise ValueError(f"{raw!r} has an invalid port") from None
    return value.rstrip("/")


def path(raw: str) -> Path:
    """A filesystem path (not checked for existence here)."""
    return Path(text(raw)).expanduser()


def log_level(raw: str) -> str:
    """A logging level name."""
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"{raw!r} is not one of debug, info, warning, error")
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    """A converter accepting exactly one of ``allowed``."""

    def convert(raw: str) -> str:
        value = raw.strip()
        if value not in allowed:
            raise ValueError(f"{raw!r} is not one of {', '.join(allowed)}")
        return value

    return convert
