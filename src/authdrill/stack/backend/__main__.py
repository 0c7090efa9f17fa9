"""``python -m authdrill.stack.backend``: run the backend (same as ``authdrill serve backend``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from authdrill.stack.backend.app import open_backend
from authdrill.stack.server import serve_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve backend until SIGINT/SIGTERM; 2 if it cannot start."""
    return serve_main("backend", open_backend, argv)


if __name__ == "__main__":
    sys.exit(main())
