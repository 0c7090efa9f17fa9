"""``authdrill run [DRILL]``: run a drill against a target and report.

Exit codes: 0 every check held; 1 a check failed (or a later phase errored); 2 bad
usage, a bad target file, a report file that cannot be written, or a service that would
not start (setup errored). Report paths are checked before anything starts; a report
that still cannot be written after the drill is exit 2 too (the summary says the drill's
own verdict), and the JSON report is then kept in the run directory as report.json.
Ctrl-C (or SIGTERM) stops the drill; cleanup still runs and no process is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
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

Writer = Callable[[DrillReport, Path], None]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FALLBACK_REPORT = "report.json"  # in the run directory, when a requested report failed


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
        _check_report_paths(ns)
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
    if not _write_reports(ns, report, console=console, errors=errors):
        return EXIT_USAGE
    return _exit_code(report)


def _requested_reports(ns: argparse.Namespace) -> Iterator[tuple[str, Path, Writer]]:
    """``(option, path, writer)`` of each report asked for, in the order they are written."""
    for option, path, writer in (
        ("--json", ns.json, write_json),
        ("--junit", ns.junit, write_junit),
        ("--html", ns.html, write_html),
    ):
        if path is not None:
            yield option, path, writer


def _check_report_paths(ns: argparse.Namespace) -> None:
    """Refuse, before anything starts, report paths that cannot be written.

    Raises:
        ConfigError: keyed by the option (``--junit``), naming the path and the problem.
    """
    seen: dict[str, str] = {}
    for option, path, _writer in _requested_reports(ns):
        problem = _report_path_problem(path)
        # abspath, not resolve(): no file system access, and it catches r.json vs ./r.json
        absolute = os.path.abspath(path)  # noqa: PTH100 - see above
        if problem is None and absolute in seen:
            problem = f"{seen[absolute]} writes the same file"
        if problem is not None:
            raise ConfigError(option, f"cannot write a report to {path}: {problem}")
        seen[absolute] = option


def _report_path_problem(path: Path) -> str | None:
    """Why a report cannot be written to ``path``, or ``None`` if it can (as far as we see).

    This mirrors what the report writers need (``report._files.write_text_atomically``):
    they create missing parent directories, then write a temporary file next to ``path``
    and rename it over ``path``. So ``path`` must not be a directory, and its nearest
    existing ancestor must be a directory we may create entries in.
    """
    try:
        if path.is_dir():
            return "it is a directory"
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"{ancestor} is not a directory"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"directory {ancestor} is not writable"
    except OSError as exc:  # e.g. an ancestor we may not look into
        return exc.strerror or str(exc)
    return None


def _write_reports(
    ns: argparse.Namespace, report: DrillReport, *, console: Console, errors: Console
) -> bool:
    """Write every requested report; say which could not be written; never lose the results.

    One report failing does not stop the others. If any failed, the drill's own verdict
    and the run directory are stated, and the JSON report is pointed to (``--json``, if
    that one was written) or saved in the run directory. Returns whether every requested
    report was written.
    """
    json_path: Path | None = None
    failed = False
    for option, path, writer in _requested_reports(ns):
        try:
            writer(report, path)
        except OSError as exc:
            failed = True
            errors.print(
                f"authdrill run: error: {option}: could not write {path}: {exc}", markup=False
            )
        else:
            json_path = path if option == "--json" else json_path
            console.print(f"[dim]wrote {path}[/]", highlight=False)
    if not failed:
        return True
    run_dir = Path(str(report.details.get("run_dir", ".")))
    errors.print(
        f"authdrill run: the drill {'passed' if report.passed else 'failed'} (exit code "
        f"{_exit_code(report)} but for the report error); run directory: {run_dir}",
        markup=False,
    )
    if json_path is None:
        json_path = run_dir / FALLBACK_REPORT
        try:
            write_json(report, json_path)
        except OSError as exc:
            errors.print(
                f"authdrill run: error: could not save the JSON report to {json_path} either: "
                f"{exc}; the summary above is all that is left",
                markup=False,
            )
            return False
    errors.print(f"authdrill run: the JSON report is in {json_path}", markup=False)
    return False


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
