"""The auth-outage drill under load: real processes, sessions kept busy, logins arriving.

One small load drill against the reference stack is shared by several tests (it is the
expensive part); each broken variant, the CLI and the discrete integrity failure run once.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from authdrill.drill import DrillReport, DrillSettings, Thresholds, run_drill
from authdrill.report import write_html
from tests.support import AUTH_OUTAGE_PHASES as PHASES
from tests.support import TIME_UNIT, assert_fails_first_at, failures

pytestmark = pytest.mark.asyncio(loop_scope="module")

OUTAGE_PHASES = ("persist", "new_logins", "breaker")
SESSION_OPS = ("api_call", "api_write", "ws_round_trip")
LOAD = DrillSettings(users=20, duration_s=6, rate=3, think_time_s=0.3)
SMALL_LOAD = DrillSettings(users=10, duration_s=6, rate=2, think_time_s=0.3)
# Short waits for the phases after a broken variant's first failure: which phase fails
# first matters, not how long later phases wait for something that never comes.
# the breaker needs 5 failed calls to open; under this load that takes ~2 s: keep the default 5 s
QUICK = Thresholds(breaker_close_within_s=2, recovery_login_within_s=4)
INTEGRITY = "acknowledged writes present afterwards"


def groups(report: DrillReport) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The report's statistics keyed by (phase, population, op)."""
    return {(g["phase"], g["population"], g["op"]): g for g in report.details["statistics"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def load_run(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DrillReport]:
    """One small load drill against the reference stack (20 users, 6 s, 3 logins/s)."""
    run_dir = tmp_path_factory.mktemp("load") / "run"
    yield await run_drill("auth-outage", settings=LOAD, run_dir=run_dir)


async def test_a_small_load_drill_passes(load_run: DrillReport) -> None:
    """Every phase passes with sessions kept busy and new logins arriving throughout."""
    report = load_run
    assert report.passed, failures(report)
    assert [p.name for p in report.phases] == PHASES
    load = report.details["load"]
    assert load["rounds"] > 0
    assert load["arrivals"] > 0
    assert load["dropped_arrivals"] == 0
    assert report.settings["duration_s"] == 6
    recover_checks = {c.name for c in report.phase("recover").checks}
    assert INTEGRITY in recover_checks
    assert "load driver ran without crashed sessions" in recover_checks


async def test_existing_sessions_kept_working_through_the_outage(load_run: DrillReport) -> None:
    """In each outage phase the existing sessions' calls, writes and round trips all
    succeeded, as they did in the baseline."""
    by_key = groups(load_run)
    for phase in ("baseline", *OUTAGE_PHASES, "recover"):
        for op in SESSION_OPS:
            group = by_key.get((phase, "existing", op))
            assert group is not None, f"no {op} of existing sessions in {phase}"
            assert group["count"] > 0
            assert group["success_rate"] == 1.0, group
            assert group["errors"] == {}


async def test_new_logins_were_refused_during_the_outage(load_run: DrillReport) -> None:
    """New logins through the backend worked in the baseline and were all refused with 503
    in every outage phase."""
    by_key = groups(load_run)
    baseline = by_key["baseline", "new", "backend_login"]
    assert baseline["count"] > 0
    assert baseline["ok"] == baseline["count"], baseline
    for phase in OUTAGE_PHASES:
        group = by_key.get((phase, "new", "backend_login"))
        assert group is not None, f"no new logins in {phase}"
        assert group["count"] > 0
        assert group["ok"] == 0, group
        assert set(group["errors"]) == {"status 503"}, group


async def test_load_measurements(load_run: DrillReport) -> None:
    """Writes were acknowledged and none lost, no WebSocket dropped, the baseline had a
    throughput, and latency came back to normal."""
    m = load_run.measurements
    acknowledged = m["acknowledged_writes"]
    assert acknowledged is not None
    assert acknowledged > 0
    assert m["lost_writes"] == 0
    assert m["websocket_disconnects"] == 0
    baseline = m["baseline_ops_per_s"]
    assert baseline is not None
    assert baseline > 0
    assert m["outage_session_success_rate"] == 1.0
    assert m["latency_normal_after_recovery_ms"] is not None
    outage_logins = m["outage_logins"]
    assert outage_logins is not None
    assert outage_logins > LOAD.outage_logins  # the phase's own logins and the arrivals


async def test_metrics_were_scraped_from_both_services(load_run: DrillReport) -> None:
    """Scrapes come from auth and backend, auth's stop while it is down, and the backend's
    ``authdrill_breaker_state`` reaches 2 (open) during the outage."""
    report = load_run
    scrapes = report.details["metrics"]
    assert {s["service"] for s in scrapes} == {"auth", "backend"}
    for service in ("auth", "backend"):
        times = [s["t"] for s in scrapes if s["service"] == service]
        assert times == sorted(times), service
    killed_at = report.details["outage"]["killed_at"]
    auth_ready_at = report.details["outage"]["auth_ready_at"]
    restore_at = dict(report.details["phase_starts"])["restore"]
    down_ms = report.measurements["auth_kill_to_down_ms"]
    assert down_ms is not None
    surely_down = (killed_at + down_ms / 1000, restore_at)
    auth_while_down = [
        s["t"]
        for s in scrapes
        if s["service"] == "auth" and surely_down[0] < s["t"] < surely_down[1]
    ]
    assert auth_while_down == [], "auth answered /metrics while it was dead"
    breaker = [
        (s["t"], value)
        for s in scrapes
        if s["service"] == "backend"
        for name, value in s["series"].items()
        if name.split("{")[0] == "authdrill_breaker_state"
    ]
    assert breaker, "the backend exposed no authdrill_breaker_state"
    assert breaker[0][1] == 0, breaker
    opened = [t for t, value in breaker if value == 2]
    assert opened, breaker
    assert all(killed_at < t for t in opened), (killed_at, breaker)
    assert min(opened) < auth_ready_at + QUICK.breaker_close_within_s


async def test_breaker_timeline_shows_the_outage(load_run: DrillReport) -> None:
    """The sampled breaker starts closed, is open after the kill, and closes again after
    auth is back; the backend's health never stopped answering."""
    report = load_run
    timeline = report.details["breaker_timeline"]
    states = [state for _, state in timeline]
    assert states[0] == "closed", timeline
    assert "unreachable" not in states
    opened = states.index("open")
    assert timeline[opened][0] > report.details["outage"]["killed_at"]
    assert "closed" in states[opened + 1 :], timeline


async def test_the_load_report_renders_to_html(load_run: DrillReport, tmp_path: Path) -> None:
    """write_html of the load report is a self-contained page (plotly inline, > 1 MB) that
    says PASSED."""
    path = tmp_path / "load.html"
    write_html(load_run, path)
    assert path.stat().st_size > 1_000_000
    text = path.read_text(encoding="utf-8")
    assert '<div class="verdict passed">PASSED</div>' in text


@pytest.mark.parametrize(
    ("variant", "phase", "check"),
    [
        ("remote-validation", "persist", "existing sessions succeed during the outage"),
        ("ephemeral-keys", "restore", "same signing keys after restart"),
        ("ready-needs-auth", "breaker", "backend stays ready"),
        ("no-breaker", "new_logins", "slowest refused login"),
        ("deferred-writes", "recover", INTEGRITY),
    ],
)
async def test_each_broken_variant_fails_at_its_phase_under_load(
    variant: str, phase: str, check: str, tmp_path: Path
) -> None:
    """Under load too, each anti-pattern makes the drill fail first at the phase it breaks,
    for that reason, with every earlier phase passed."""
    report = await run_drill(
        "auth-outage",
        target=f"builtin:broken-{variant}",
        settings=SMALL_LOAD,
        thresholds=QUICK,
        run_dir=tmp_path / "run",
    )
    assert [p.name for p in report.phases] == PHASES
    assert_fails_first_at(report, phase, check)
    failure = report.first_failure
    assert failure is not None
    assert report.details["load"]["rounds"] > 0, "the load never ran"
    if variant == "deferred-writes":
        [integrity] = [c for c in failure.checks if c.name == INTEGRITY]
        assert "missing ids: " in integrity.observed, integrity
        lost = report.measurements["lost_writes"]
        assert lost is not None
        assert lost > 0


async def test_the_cli_runs_a_load_drill_and_writes_reports(tmp_path: Path) -> None:
    """``authdrill run --duration 5s --rate 2`` exits 0 and writes HTML and a JSON report
    carrying the load material."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "authdrill",
        "run",
        "--users",
        "10",
        "--duration",
        "5s",
        "--rate",
        "2",
        "--quiet",
        "--html",
        "r.html",
        "--json",
        "r.json",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(90 * TIME_UNIT):
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")
    assert (tmp_path / "r.html").stat().st_size > 1_000_000
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["passed"] is True
    for key in ("statistics", "timeline", "breaker_timeline", "metrics", "load"):
        assert doc[key], f"{key} is empty: {doc[key]!r}"
    assert doc["settings"]["duration_s"] == 5.0
    assert doc["settings"]["rate"] == 2.0
    assert doc["load"]["arrivals"] > 0
    assert {s["service"] for s in doc["metrics"]} == {"auth", "backend"}


async def test_integrity_fails_in_discrete_mode_too(tmp_path: Path) -> None:
    """Without load, the deferred-writes backend still fails first at recover: the writes
    it acknowledged during the outage are gone (those made while auth was up remain)."""
    report = await run_drill(
        "auth-outage", target="builtin:broken-deferred-writes", run_dir=tmp_path / "run"
    )
    assert report.details["load"] is None
    failure = report.first_failure
    assert failure is not None
    assert failure.name == "recover", failures(report)
    failed = {c.name: c for c in failure.checks if not c.passed}
    assert list(failed) == [INTEGRITY], failures(report)
    assert "missing ids: " in failed[INTEGRITY].observed
    acknowledged = report.measurements["acknowledged_writes"]
    lost = report.measurements["lost_writes"]
    assert acknowledged is not None
    assert lost is not None
    assert 0 < lost < acknowledged
