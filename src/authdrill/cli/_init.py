"""``authdrill init [PATH]``: write a commented starter target file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from authdrill.errors import ConfigError
from authdrill.target import write_starter

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``init``."""
    parser = commands.add_parser(
        "init", help="write a commented starter target file for your own services"
    )
    parser.add_argument("path", nargs="?", type=Path, default=Path("authdrill-target.toml"))
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=_run)


def _run(ns: argparse.Namespace) -> int:
    try:
        write_starter(ns.path, force=ns.force)
    except ConfigError as exc:
        print(f"authdrill init: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {ns.path}; edit it, then: authdrill run --target {ns.path}")
    return 0
