"""Logging for stack services: one line per record, secrets redacted.

Services never log tokens or passwords on purpose; :class:`RedactingFilter` is the
safety net for the accidental case (a library logging a header, an exception message
quoting a body): anything shaped like a JWT, a ``Bearer`` credential or a JSON
``password``/``*_token`` value is replaced before the record is formatted.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["RedactingFilter", "configure_logging", "redact"]

_SECRET_KEY = r"(?:password|[a-z_]*token|secret)"  # noqa: S105 - a pattern of names
_PATTERNS = (
    # a stored password hash (PHC string), crackable offline if it leaks
    (
        re.compile(r"\$argon2(?:id|i|d)\$(?:v=\d+\$)?[a-z0-9=,]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"),
        "[redacted-hash]",
    ),
    # compact JWS/JWE: base64url segments separated by dots, starting with a JSON header
    (re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){1,4}"), "[redacted-jwt]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1[redacted]"),
    # "password": "any \"quoted\" text, spaces included"   (JSON, double quotes)
    (re.compile(rf'(?i)("{_SECRET_KEY}"\s*:\s*")(?:[^"\\]|\\.)*(")'), r"\1[redacted]\2"),
    # 'password': '...'   (Python reprs, single quotes)
    (re.compile(rf"(?i)('{_SECRET_KEY}'\s*:\s*')(?:[^'\\]|\\.)*(')"), r"\1[redacted]\2"),
    # password=value   (query strings, form bodies, key=value logs)
    (re.compile(rf"(?i)\b({_SECRET_KEY}=)[^&\s,;]+"), r"\1[redacted]"),
    # password: value   (YAML-ish and free text)
    (re.compile(rf"(?i)\b({_SECRET_KEY}:\s*)[^\s,;\"']+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """Return ``text`` with token- and password-shaped substrings replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str, *, service: str) -> None:
    """Send every record to stderr as ``time level service logger: message``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own loggers propagate to ours; its access log stays off.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # one line per outbound request (every revocation poll) would drown everything else
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    # database drivers log statements *with their parameters* at DEBUG: password hashes,
    # refresh-token hashes. Never, at any level.
    for name in ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg"):
        logging.getLogger(name).setLevel(logging.WARNING)
