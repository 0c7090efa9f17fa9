"""``authdrill serve auth|backend [OPTIONS]``: run one reference-stack service."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "run"]

SERVICES = ("auth", "backend")


def register(commands: Any) -> None:
    """Add ``serve`` (its options are the service's own: see ``serve auth --help``)."""
    parser = commands.add_parser(
        "serve",
        help="run one reference-stack service (auth or backend)",
        description="Run one reference-stack service. Options after the service name are "
        "the service's own; see 'authdrill serve auth --help'.",
    )
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("options", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=lambda ns: run(ns.service, ns.options))


def run(service: str, options: list[str]) -> int:
    """Serve ``service`` with ``options`` until SIGINT/SIGTERM."""
    if service == "auth":
        from authdrill.stack.auth.__main__ import main  # noqa: PLC0415 - import only what runs
    elif service == "backend":
        from authdrill.stack.backend.__main__ import main  # noqa: PLC0415
    else:
        print(
            f"authdrill serve: error: unknown service {service!r} (auth, backend)", file=sys.stderr
        )
        return 2
    return main(options)
