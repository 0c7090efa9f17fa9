"""``authdrill reap``: kill services left behind by runs that were killed."""

from __future__ import annotations

from typing import Any

from authdrill.process import default_state_dir, reap_stale_runs

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``reap``."""
    parser = commands.add_parser(
        "reap", help="kill services left behind by crashed runs (also done at every run start)"
    )
    parser.set_defaults(handler=_run)


def _run(_namespace: Any) -> int:
    killed = reap_stale_runs(default_state_dir())
    for line in killed:
        print(f"killed {line}")
    if not killed:
        print("nothing to reap")
    return 0
