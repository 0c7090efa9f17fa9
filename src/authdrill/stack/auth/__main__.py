"""``python -m authdrill.stack.auth``: run the auth service (same as ``authdrill serve auth``)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence

from authdrill.stack.auth.app import open_auth
from authdrill.stack.auth.settings import parse_auth_settings
from authdrill.stack.server import run_service

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve auth until SIGINT/SIGTERM; 2 if it cannot start."""
    return run_service(
        "auth",
        sys.argv[1:] if argv is None else argv,
        os.environ,
        parse=parse_auth_settings,
        opener=lambda settings: functools.partial(open_auth, settings),
    )


if __name__ == "__main__":
    sys.exit(main())
