"""Whole drills through the Python API: real processes, real SIGKILL, real sessions."""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from authdrill.drill import DrillReport, DrillSettings, Thresholds, run_drill
from tests.support import (
    AUTH_OUTAGE_PHASES,
    REQUIRED_MEASUREMENTS,
    assert_fails_first_at,
    failures,
    processes_of,
    reference_with_backend_command,
    reference_with_commands,
)

PROGRAM = Path(__file__).parent / "programs" / "service.py"

# The reference report is shared by several tests; every drill here runs on the module loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

# Short waits for the phases after a broken variant's first failure: what matters is which
# phase fails first, not how long the later ones wait for something that never comes.
QUICK = Thresholds(breaker_close_within_s=3, recovery_login_within_s=5, breaker_open_within_s=3)
START_MARKER = "--- authdrill: started"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def reference_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[DrillReport, Path]]:
    """One auth-outage drill against the built-in reference stack, and its run directory."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    yield await run_drill("auth-outage", run_dir=run_dir), run_dir


async def test_auth_outage_passes_against_the_reference(
    reference_run: tuple[DrillReport, Path],
) -> None:
    """Every one of the 8 phases runs, in the DESIGN's order, and passes."""
    report, _ = reference_run
    assert report.passed, failures(report)
    assert report.first_failure is None
    assert [p.name for p in report.phases] == AUTH_OUTAGE_PHASES
    for phase in report.phases:
        assert phase.status == "passed", failures(report)
        assert phase.checks, f"phase {phase.name} judged nothing"
        assert phase.duration_s >= 0
    assert report.target == "builtin:reference"


async def test_every_measurement_is_taken(reference_run: tuple[DrillReport, Path]) -> None:
    """The DESIGN's 8 measurements are numbers >= 0; no operation failed, no socket dropped."""
    report, _ = reference_run
    assert tuple(report.measurements)[: len(REQUIRED_MEASUREMENTS)] == REQUIRED_MEASUREMENTS
    for name in REQUIRED_MEASUREMENTS:
        value = report.measurements[name]
        assert isinstance(value, int | float), f"{name} was not measured: {value!r}"
        assert not isinstance(value, bool)
        assert math.isfinite(value)
        assert value >= 0, f"{name} = {value}"
    assert report.measurements["outage_session_success_rate"] == 1.0
    assert report.measurements["websocket_disconnects"] == 0
    # 3 users: too few for a per-session memory figure; not load mode: no baseline rate
    assert report.measurements["memory_per_session_kb"] is None
    assert report.measurements["baseline_ops_per_s"] is None


async def test_breaker_timeline_goes_closed_open_closed(
    reference_run: tuple[DrillReport, Path],
) -> None:
    """The sampled breaker states start closed, open after the kill and close again."""
    report, _ = reference_run
    timeline = report.details["breaker_timeline"]
    times = [t for t, _ in timeline]
    assert times == sorted(times)
    states = [state for _, state in timeline]
    assert states[0] == "closed", timeline
    opened = states.index("open")
    assert "closed" in states[opened + 1 :], timeline
    assert "unreachable" not in states, "the backend's /health stopped answering"


async def test_no_process_of_the_run_is_left(reference_run: tuple[DrillReport, Path]) -> None:
    """After the drill, no service of the run is alive; the logs show auth started twice."""
    report, run_dir = reference_run
    logs = report.details["logs"]
    assert set(logs) == {"auth", "backend"}
    # The drill is over: reading its small logs blocks nothing.
    auth_log = Path(logs["auth"]).read_text(encoding="utf-8")  # noqa: ASYNC240
    assert auth_log.count(f"{START_MARKER} auth") == 2, "auth was not restarted exactly once"
    backend_log = Path(logs["backend"]).read_text(encoding="utf-8")  # noqa: ASYNC240
    assert backend_log.count(START_MARKER) == 1
    left = processes_of(run_dir)
    assert left == [], [p.info["cmdline"] for p in left]


async def test_isolation_drill_passes(tmp_path: Path) -> None:
    """With auth killed the reference backend stays ready, healthy and connected."""
    report = await run_drill("isolation", run_dir=tmp_path / "run")
    assert report.passed, failures(report)
    assert [p.name for p in report.phases] == ["setup", "sessions", "fail", "isolation", "restore"]
    assert report.measurements["outage_session_success_rate"] == 1.0
    assert report.measurements["websocket_disconnects"] == 0
    assert processes_of(tmp_path / "run") == []


async def test_isolation_drill_fails_when_readiness_depends_on_auth(tmp_path: Path) -> None:
    """A backend whose readiness probe calls auth fails the isolation phase, and only it."""
    report = await run_drill(
        "isolation", target="builtin:broken-ready-needs-auth", run_dir=tmp_path / "run"
    )
    assert_fails_first_at(report, "isolation", "backend stays ready")
    assert processes_of(tmp_path / "run") == []


@pytest.mark.parametrize(
    ("variant", "phase", "check"),
    [
        ("remote-validation", "persist", "existing sessions succeed during the outage"),
        ("ephemeral-keys", "restore", "same signing keys after restart"),
        ("ready-needs-auth", "breaker", "backend stays ready"),
        ("no-breaker", "new_logins", "slowest refused login"),
        ("deferred-writes", "recover", "acknowledged writes present afterwards"),
    ],
)
async def test_each_broken_variant_fails_at_its_phase(
    variant: str, phase: str, check: str, tmp_path: Path
) -> None:
    """Each anti-pattern makes the drill fail first at the phase it breaks, for that reason."""
    report = await run_drill(
        "auth-outage",
        target=f"builtin:broken-{variant}",
        thresholds=QUICK,
        run_dir=tmp_path / "run",
    )
    assert [p.name for p in report.phases] == AUTH_OUTAGE_PHASES
    assert_fails_first_at(report, phase, check)
    assert processes_of(tmp_path / "run") == []


async def test_healthy_drill_is_not_flaky(tmp_path: Path) -> None:
    """The healthy drill passes every time, AUTHDRILL_FLAKE_LOOPS times in a row (default 3)."""
    loops = int(os.environ.get("AUTHDRILL_FLAKE_LOOPS", "3"))
    assert loops >= 1
    failed = []
    for loop in range(loops):
        report = await run_drill("auth-outage", run_dir=tmp_path / f"run-{loop}")
        if not report.passed:
            failed.append(f"run {loop + 1}/{loops}:\n{report.describe_failures()}")
    assert not failed, "\n".join(failed)


async def test_twenty_users_pass(tmp_path: Path) -> None:
    """Twenty sessions are all established and keep working through the outage."""
    report = await run_drill(
        "auth-outage", settings=DrillSettings(users=20), run_dir=tmp_path / "run"
    )
    assert report.passed, failures(report)
    [established] = report.phase("sessions").checks
    assert established.observed == "100.0% (20/20)"
    persisted = report.phase("persist").checks[0]
    assert persisted.passed
    # 20 users x 3 rounds x (2 calls + 1 round trip)
    assert persisted.observed == "100.0% (180/180)"


async def test_a_backend_that_cannot_start_errors_the_setup_phase(tmp_path: Path) -> None:
    """A backend exiting at start: setup errors with its name, exit code and output; rest skip."""
    target = tmp_path / "exits.toml"
    target.write_text(
        reference_with_backend_command(
            """["{python}", "-c", "import sys; print('boom'); sys.exit(3)"]"""
        ),
        encoding="utf-8",
    )
    report = await run_drill("auth-outage", target=target, run_dir=tmp_path / "run")
    assert not report.passed
    setup = report.phase("setup")
    assert setup.status == "error"
    assert setup.error is not None
    assert "backend" in setup.error
    assert "exit code 3" in setup.error
    assert "boom" in setup.error
    assert report.first_failure is setup
    assert [(p.name, p.status) for p in report.phases[1:]] == [
        (name, "skipped") for name in AUTH_OUTAGE_PHASES[1:]
    ]
    assert processes_of(tmp_path / "run") == [], "auth outlived the failed setup"


async def test_setup_fails_when_a_service_is_unready_once_the_next_one_started(
    tmp_path: Path,
) -> None:
    """The backend breaks auth as it starts (GET /break): both started, but setup fails,
    naming auth; the later phases are skipped."""
    stand_in = json.dumps(str(PROGRAM))
    target = tmp_path / "breaks-auth.toml"
    target.write_text(
        reference_with_commands(
            auth=f'["{{python}}", {stand_in}, "http", "--port", "{{port}}"]',
            backend=f'["{{python}}", {stand_in}, "http", "--port", "{{port}}", '
            '"--hit", "{services.auth.url}/break"]',
        ),
        encoding="utf-8",
    )
    report = await run_drill("auth-outage", target=target, run_dir=tmp_path / "run")
    setup = report.phase("setup")
    assert setup.status == "failed", failures(report)
    bad = {c.name: c for c in setup.checks if not c.passed}
    assert bad.keys() == {"auth ready with every service up"}, failures(report)
    assert bad["auth ready with every service up"].observed.endswith("then not ready any more")
    assert report.first_failure is setup
    assert {p.status for p in report.phases[1:]} == {"skipped"}
