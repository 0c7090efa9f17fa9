"""``python -m authdrill.stack.auth``: run the auth service (same as ``authdrill serve auth``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from authdrill.stack.auth.app import open_auth
from authdrill.stack.server import serve_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve auth until SIGINT/SIGTERM; 2 if it cannot start."""
    return serve_main("auth", open_auth, argv)


if __name__ == "__main__":
    sys.exit(main())
