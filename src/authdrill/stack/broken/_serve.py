"""Serving a broken variant: the reference service's runner with another opener."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from authdrill.stack.auth.settings import parse_auth_settings
from authdrill.stack.backend.settings import parse_backend_settings
from authdrill.stack.server import run_service

__all__ = ["serve_variant"]


def serve_variant(
    service: str, opener: Callable[[Any], Awaitable[Any]], argv: Sequence[str] | None = None
) -> int:
    """Run ``service`` (auth or backend) with ``opener(settings)`` building it."""
    parse = parse_auth_settings if service == "auth" else parse_backend_settings
    return run_service(
        service,
        sys.argv[1:] if argv is None else argv,
        os.environ,
        parse=parse,
        opener=lambda settings: functools.partial(opener, settings),
    )
