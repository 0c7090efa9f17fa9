"""The ``authdrill`` command line.

Exit codes: 0 success, 1 a drill check failed, 2 bad usage / bad configuration / a
service that would not start / a report that could not be written; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from authdrill._version import __version__
from authdrill.cli import _init, _keys, _reap, _run, _serve, _up

__all__ = ["main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (``serve`` forwards its arguments to the service)."""
    parser = argparse.ArgumentParser(
        prog="authdrill",
        description="Prove, with real processes and real kills, that your users keep "
        "working when your auth service dies.",
    )
    parser.add_argument("--version", action="version", version=f"authdrill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run.register(commands)
    _up.register(commands)
    _init.register(commands)
    _serve.register(commands)
    _keys.register(commands)
    _reap.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``authdrill`` with ``argv`` (default: the process arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) >= 2 and args[0] == "serve":  # noqa: PLR2004 - "serve SERVICE ..."
        return _serve.run(args[1], args[2:])
    namespace = build_parser().parse_args(args)
    code: int = namespace.handler(namespace)
    return code
