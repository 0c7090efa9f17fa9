"""``authdrill run [DRILL]``: run a drill against a target and report.

Exit codes: 0 every check held; 1 a check failed (or a later phase errored); 2 bad
usage, a bad target file, or a service that would not start (setup errored).
Ctrl-C (or SIGTERM) stops the drill; cleanup still runs and no process is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from authdrill.drill import (
    DRILLS,
    DrillReport,
    DrillSettings,
    Thresholds,
    parse_overrides,
    run_drill,
)
from authdrill.errors import AuthdrillError, ConfigError
from authdrill.report import TerminalProgress, print_summary, write_html, write_json, write_junit
from authdrill.target import resolve_target

__all__ = ["register"]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def register(commands: Any) -> None:
    """Add ``run`` and ``drills``."""
    parser = commands.add_parser(
        "run",
        help="run a drill (default: auth-outage against the built-in reference stack)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "drill", nargs="?", default="auth-outage", help=f"one of: {', '.join(DRILLS)}"
    )
    parser.add_argument(
        "--target", help="target TOML file, or builtin:<name> (default builtin:reference)"
    )
    parser.add_argument("--users", type=int, help="sessions to open before the fault (default 3)")
    parser.add_argument(
        "--duration", type=_seconds, metavar="TIME",
        help="keep every session busy for about TIME (e.g. 60s, 2m): baseline, outage, recovery",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, metavar="R", help="under load: new logins per second")
    parser.add_argument(
        "--think-time", type=_seconds, metavar="TIME", help="under load: pause between rounds"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report here")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report here")
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="write a self-contained HTML report here"
    )
    parser.add_argument(
        "--run-dir", type=Path, help="logs and service data (default .authdrill/runs/...)"
    )
    parser.add_argument(
        "--threshold", action="append", default=[], metavar="NAME=VALUE",
        help="change a threshold, e.g. min_outage_session_success=0.99 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE",
        help="change a drill setting, e.g. persist_rounds=5 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no live progress; only the summary")
    parser.set_defaults(handler=_run)

    listing = commands.add_parser("drills", help="list the drills and their phases")
    listing.set_defaults(handler=_list)


def _list(_ns: argparse.Namespace) -> int:
    for definition in DRILLS.values():
        print(f"{definition.name}: {definition.title}")
        for index, phase in enumerate(definition.phases, 1):
            print(f"  {index}. {phase.name:11} {phase.title}")
    return EXIT_PASSED


def _seconds(raw: str) -> float:
    """``90``, ``90s``, ``1.5m`` or ``2m`` as seconds (for argparse)."""
    text = raw.strip().lower()
    scale = 60.0 if text.endswith("m") else 1.0
    try:
        value = float(text.rstrip("sm")) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a duration like 60s or 2m") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw!r} must not be negative")
    return value


def _options(ns: argparse.Namespace) -> tuple[DrillSettings, Thresholds]:
    settings = parse_overrides(DrillSettings(), ns.setting, what="setting")
    flags = {
        "users": ns.users,
        "duration_s": ns.duration,
        "rate": ns.rate,
        "think_time_s": ns.think_time,
    }
    settings = parse_overrides(
        settings,
        [f"{name}={value}" for name, value in flags.items() if value is not None],
        what="option",
    )
    return settings, parse_overrides(Thresholds(), ns.threshold, what="threshold")


def _run(ns: argparse.Namespace) -> int:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    errors = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)
    try:
        if ns.drill not in DRILLS:
            raise ConfigError("DRILL", f"unknown drill {ns.drill!r} (drills: {', '.join(DRILLS)})")
        settings, thresholds = _options(ns)
        target = resolve_target(ns.target)
    except AuthdrillError as exc:
        errors.print(f"authdrill run: error: {exc}", markup=False)
        return EXIT_USAGE
    progress = TerminalProgress(console, total_phases=len(DRILLS[ns.drill].phases), quiet=ns.quiet)
    if not ns.quiet:
        console.print(
            f"[bold]{DRILLS[ns.drill].title}[/]\ntarget {target.source}, {settings.users} users"
        )
    try:
        report = asyncio.run(
            _drill(
                ns.drill,
                target=target,
                settings=settings,
                thresholds=thresholds,
                run_dir=ns.run_dir,
                progress=progress,
            )
        )
    except KeyboardInterrupt:
        errors.print("authdrill run: interrupted; every started process was stopped")
        return EXIT_INTERRUPTED
    except AuthdrillError as exc:
        errors.print(f"authdrill run: error: {exc}", markup=False)
        return EXIT_USAGE
    print_summary(console, report)
    for path, writer in ((ns.json, write_json), (ns.junit, write_junit), (ns.html, write_html)):
        if path is not None:
            writer(report, path)
            console.print(f"[dim]wrote {path}[/]", highlight=False)
    return _exit_code(report)


def _exit_code(report: DrillReport) -> int:
    if report.passed:
        return EXIT_PASSED
    if report.phases and report.phases[0].status == "error":
        return EXIT_USAGE  # the target would not start
    return EXIT_FAILED


async def _drill(drill: str, **kwargs: Any) -> DrillReport:
    """Run the drill; SIGTERM cancels it like Ctrl-C (cleanup runs either way)."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, non-main thread
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await run_drill(drill, **kwargs)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
