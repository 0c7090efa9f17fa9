"""Auth service recovery, end to end, on authdrill's public API (the seed's scenario).

Real processes, real sessions, a real SIGKILL; ``-s`` shows the drill live:

    python -m pytest tests/unified/e2e/test_auth_service_recovery.py -v -s
"""

from __future__ import annotations

import pytest

from authdrill.pytest_plugin import DrillRunner

pytestmark = pytest.mark.e2e

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


def test_auth_service_recovery_complete(drill: DrillRunner) -> None:
    """All 8 phases pass: sessions survive the outage, logins fail fast, recovery is automatic."""
    report = drill.run("auth-outage")

    assert [phase.name for phase in report.phases] == AUTH_OUTAGE_PHASES
    assert report.passed, report.describe_failures()
    measured = report.measurements
    assert measured["outage_session_success_rate"] == 1.0
    assert measured["websocket_disconnects"] == 0
    for name in (
        "auth_kill_to_down_ms",
        "auth_restart_to_ready_ms",
        "recovery_to_first_login_ms",
        "outage_login_p99_ms",
        "breaker_open_after_ms",
        "breaker_closed_after_recovery_ms",
    ):
        assert measured[name] is not None, f"{name} was not measured"
        assert measured[name] >= 0


def test_auth_service_failure_isolation(drill: DrillRunner) -> None:
    """With auth dead the backend stays ready, its data and WebSockets unaffected."""
    report = drill.run("isolation")

    assert [phase.name for phase in report.phases] == [
        "setup",
        "sessions",
        "fail",
        "isolation",
        "restore",
    ]
    assert report.passed, report.describe_failures()
    assert report.measurements["outage_session_success_rate"] == 1.0
    assert report.measurements["websocket_disconnects"] == 0
