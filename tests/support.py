"""Test-wide helpers: the time unit, waiting on a condition, processes, targets."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import pytest

from authdrill.drill import DrillReport
from authdrill.process._gone import alive

# Every duration a test waits for is a multiple of this unit; slow machines raise it.
TIME_UNIT = float(os.environ.get("AUTHDRILL_TEST_TIME_UNIT", "1"))


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within_s: float, what: str, interval_s: float = 0.02
) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``within_s`` units.

    Returns the truthy value. The interval is a polling period, not a settle time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s * TIME_UNIT
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval_s)
    pytest.fail(f"{what}: not true within {within_s * TIME_UNIT:g} s (last: {last!r})")


def pid_gone(pid: int) -> bool:
    """Whether process ``pid`` has terminated (a zombie awaiting its reaper counts)."""
    try:
        return not alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def processes_of(run_dir: Path) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line mentions ``run_dir``.

    Every service a run starts gets its data directory under the run directory.
    """
    needles = {str(run_dir), str(run_dir.resolve())}  # as given, and without symlinks
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(n in part for part in process.info["cmdline"] or [] for n in needles):
            found.append(process)
    return found


def reference_with_commands(**commands: str) -> str:
    """The reference target's TOML with some services' commands replaced (TOML arrays)."""
    edited = (
        resources.files("authdrill.target.builtin")
        .joinpath("reference.toml")
        .read_text(encoding="utf-8")
    )
    for service, command in commands.items():
        edited, count = re.subn(
            rf"(\[services\.{service}\]\n(?:#[^\n]*\n)*command = )\[.*?\]",
            lambda match, command=command: match.group(1) + command,
            edited,
            count=1,
            flags=re.DOTALL,
        )
        assert count == 1, f"the reference target no longer has a {service} command to replace"
    return edited


def reference_with_backend_command(command: str) -> str:
    """The reference target's TOML with the backend's command replaced."""
    return reference_with_commands(backend=command)


# The DESIGN phase table and the measurement names: the contract the tests hold to.
AUTH_OUTAGE_PHASES = [
    "setup",
    "sessions",
    "fail",
    "persist",
    "new_logins",
    "breaker",
    "restore",
    "recover",
]
REQUIRED_MEASUREMENTS = (
    "auth_kill_to_down_ms",
    "auth_restart_to_ready_ms",
    "recovery_to_first_login_ms",
    "outage_session_success_rate",
    "outage_login_p99_ms",
    "breaker_open_after_ms",
    "breaker_closed_after_recovery_ms",
    "websocket_disconnects",
)


def failures(report: DrillReport) -> str:
    """What went wrong in ``report``, for an assertion message."""
    return f"{report.drill} against {report.target}:\n{report.describe_failures()}"


def assert_fails_first_at(report: DrillReport, phase: str, check: str) -> None:
    """``report`` failed, first at ``phase``, for ``check``, with every earlier phase passed."""
    assert not report.passed
    failure = report.first_failure
    assert failure is not None
    assert failure.name == phase, failures(report)
    assert failure.status == "failed", failures(report)
    assert check in [c.name for c in failure.checks if not c.passed], failures(report)
    names = [p.name for p in report.phases]
    for earlier in report.phases[: names.index(phase)]:
        assert earlier.status == "passed", failures(report)
