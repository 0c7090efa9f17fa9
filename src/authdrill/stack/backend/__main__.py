"""``python -m authdrill.stack.backend``: run the backend (same as ``authdrill serve backend``)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence

from authdrill.stack.backend.app import open_backend
from authdrill.stack.backend.settings import parse_backend_settings
from authdrill.stack.server import run_service

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the backend until SIGINT/SIGTERM; 2 if it cannot start."""
    return run_service(
        "backend",
        sys.argv[1:] if argv is None else argv,
        os.environ,
        parse=parse_backend_settings,
        opener=lambda settings: functools.partial(open_backend, settings),
    )


if __name__ == "__main__":
    sys.exit(main())
