"""The auth-outage verdicts, fed with recorded data built by hand (no processes)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from authdrill.drill import Check, LoginAttempt, Thresholds
from authdrill.drill._judges import (
    judge_breaker,
    judge_fail,
    judge_new_logins,
    judge_persist,
    judge_recover,
    judge_restore,
    judge_sessions,
    judge_setup,
)
from authdrill.record import OpRecord

T = Thresholds()


def op(
    name: str = "api_call",
    *,
    ok: bool = True,
    status: int = 200,
    error: str = "",
    phase: str = "persist",
    latency: float = 0.002,
) -> OpRecord:
    return OpRecord(name, "existing", phase, 1.0, latency, ok, status, error)


def round_of(phase: str = "persist") -> list[OpRecord]:
    """One session round of the reference target: two calls and a WebSocket round trip."""
    return [
        op("api_call", phase=phase),
        op("api_write", status=201, phase=phase),
        op("ws_round_trip", status=0, phase=phase),
    ]


def refused(
    *,
    status: int | None = 503,
    kind: str = "status",
    latency_s: float = 0.002,
    retry_after: str | None = "1",
    json_error: bool = True,
) -> LoginAttempt:
    return LoginAttempt(status, kind, latency_s, retry_after, json_error)


def by_name(checks: Sequence[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), f"duplicate check names: {names}"
    return {c.name: c for c in checks}


def failed(checks: Sequence[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks if not c.passed}


# ---------------------------------------------------------------------- setup


def test_setup_passes_when_every_service_is_ready_in_time() -> None:
    """One check per service, holding when it is still ready once all are up."""
    checks = judge_setup([("auth", 0.6, True), ("backend", 0.9, True)])
    assert [c.name for c in checks] == [
        "auth ready with every service up",
        "backend ready with every service up",
    ]
    assert all(c.passed for c in checks)
    assert checks[0].observed == "ready in 600 ms"


def test_setup_fails_for_a_service_not_ready_once_all_are_up() -> None:
    """Ready at its start, unready after the next one started: that service fails."""
    checks = judge_setup([("auth", 0.5, False), ("backend", 0.9, True)])
    assert failed(checks).keys() == {"auth ready with every service up"}
    assert failed(checks)["auth ready with every service up"].observed == (
        "ready in 500 ms, then not ready any more"
    )


# ---------------------------------------------------------------------- sessions


@pytest.mark.parametrize(
    ("established", "users", "passed", "observed"),
    [(3, 3, True, "100.0% (3/3)"), (2, 3, False, "66.7% (2/3)"), (0, 0, False, "no attempts")],
)
def test_sessions_need_every_user(
    established: int, users: int, passed: bool, observed: str
) -> None:
    """All N sessions must be established; a missing one (or none tried) fails."""
    [check] = judge_sessions(established, users, T)
    assert check.passed is passed
    assert check.observed == observed


# ---------------------------------------------------------------------- fail


def test_fail_passes_when_pid_is_gone_and_port_refuses() -> None:
    """Both checks hold and report the measured milliseconds."""
    checks = by_name(judge_fail(0.0098, 0.0101))
    assert all(c.passed for c in checks.values())
    assert checks["auth process gone"].observed == "gone after 9.8 ms"
    assert checks["auth port refuses connections"].observed == "refused after 10.1 ms"


def test_fail_fails_when_the_process_survives_or_the_port_still_accepts() -> None:
    """No pid-gone time or no port-refusing time is a failure of that check."""
    alive = failed(judge_fail(None, 0.01))
    assert alive.keys() == {"auth process gone"}
    assert alive["auth process gone"].observed == "still running"
    accepting = failed(judge_fail(0.01, None))
    assert accepting.keys() == {"auth port refuses connections"}
    assert accepting["auth port refuses connections"].observed == "still accepting"


# ---------------------------------------------------------------------- persist


def persist(
    records: Sequence[OpRecord],
    *,
    before: int = 3,
    after: int = 3,
    auth_down: bool = True,
    t: Thresholds = T,
) -> list[Check]:
    return judge_persist(
        records, websockets_before=before, websockets_after=after, auth_down_after=auth_down, t=t
    )


def test_persist_passes_when_every_operation_succeeds() -> None:
    """Overall and per-operation success, no disconnect, auth still down: all hold."""
    checks = persist(round_of() * 3)
    assert all(c.passed for c in checks), failed(checks)
    names = by_name(checks)
    assert names["existing sessions succeed during the outage"].observed == "100.0% (9/9)"
    assert {"api_call during the outage", "api_write during the outage"} <= names.keys()
    assert "ws_round_trip during the outage" in names
    assert names["WebSocket disconnects during the outage"].observed == "0"
    assert names["auth stayed down throughout"].observed == "refusing"


def test_persist_fails_on_one_failed_operation_and_names_it() -> None:
    """A single 401 among nine operations fails the phase; observed names op, kind, status."""
    records = [*round_of(), *round_of(), *round_of()[1:], op(ok=False, status=401, error="status")]
    bad = failed(persist(records))
    assert bad.keys() == {
        "existing sessions succeed during the outage",
        "api_call during the outage",
    }
    overall = bad["existing sessions succeed during the outage"].observed
    assert "88.9% (8/9)" in overall
    assert "api_call:status 401 x1" in overall
    assert bad["api_call during the outage"].observed == "66.7% (2/3)"


def test_persist_accepts_the_seed_rate_when_configured() -> None:
    """With the seed's 80 % minimum, four successes in five pass."""
    records = [op(), op(), op(), op(), op(ok=False, status=0, error="timeout")]
    strict = failed(persist(records))
    assert "existing sessions succeed during the outage" in strict
    lenient = persist(records, t=Thresholds(min_outage_session_success=0.8))
    assert all(c.passed for c in lenient), failed(lenient)


def test_persist_fails_on_a_websocket_drop() -> None:
    """One WebSocket fewer at the end than at the start is a disconnect."""
    bad = failed(persist(round_of(), before=3, after=2))
    assert bad.keys() == {"WebSocket disconnects during the outage"}
    assert bad["WebSocket disconnects during the outage"].observed == "1"
    assert bad["WebSocket disconnects during the outage"].expected == "<= 0"


def test_persist_fails_when_auth_came_back_during_the_phase() -> None:
    """Success means nothing if auth was not really down: that is a failure, said so."""
    bad = failed(persist(round_of(), auth_down=False))
    assert bad.keys() == {"auth stayed down throughout"}
    assert "accepting again" in bad["auth stayed down throughout"].observed


def test_persist_fails_with_no_operations_at_all() -> None:
    """An outage with nothing measured cannot pass."""
    bad = failed(persist([]))
    assert bad["existing sessions succeed during the outage"].observed == "no attempts"


# ---------------------------------------------------------------------- new logins


def test_new_logins_pass_for_fast_503s_with_retry_after_and_json() -> None:
    """Twenty fast 503s with Retry-After and a JSON error: every check holds."""
    checks = judge_new_logins([refused()] * 20, backend_alive=True, t=T)
    assert all(c.passed for c in checks), failed(checks)
    assert [c.name for c in checks] == [
        "logins refused with 503",
        "refusals carry Retry-After",
        "refusals carry a JSON error",
        "slowest refused login",
        "backend still running",
    ]


def test_new_logins_fail_on_a_500_and_say_what_was_seen() -> None:
    """One 500 among 503s fails the status check; observed counts each status."""
    attempts = [*[refused()] * 4, refused(status=500, retry_after=None, json_error=False)]
    bad = failed(judge_new_logins(attempts, backend_alive=True, t=T))
    status = bad["logins refused with 503"]
    assert "80.0% (4/5)" in status.observed
    assert "500 x1" in status.observed
    assert "503 x4" in status.observed


def test_new_logins_fail_on_a_hang_reported_by_kind() -> None:
    """An attempt with no answer (timeout) is named by its kind."""
    attempts = [refused(), refused(status=None, kind="timeout", latency_s=5.0, retry_after=None)]
    bad = failed(judge_new_logins(attempts, backend_alive=True, t=T))
    assert "timeout x1" in bad["logins refused with 503"].observed
    assert bad["slowest refused login"].observed == "5000 ms"


def test_new_logins_fail_without_retry_after() -> None:
    """A 503 without Retry-After fails only the Retry-After check."""
    bad = failed(judge_new_logins([refused(), refused(retry_after=None)], backend_alive=True, t=T))
    assert bad.keys() == {"refusals carry Retry-After"}
    assert bad["refusals carry Retry-After"].observed == "50.0% (1/2)"


@pytest.mark.parametrize("value", ["soon", "-1", "", "1.5", "Wed 21 Oct"])
def test_new_logins_fail_on_a_malformed_retry_after(value: str) -> None:
    """Retry-After must be whole seconds or an HTTP date; anything else is not a hint."""
    bad = failed(judge_new_logins([refused(retry_after=value)], backend_alive=True, t=T))
    assert bad.keys() == {"refusals carry Retry-After"}


@pytest.mark.parametrize("value", ["0", "1", " 30 ", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_new_logins_accept_seconds_or_an_http_date_as_retry_after(value: str) -> None:
    """Delay-seconds and an IMF-fixdate (RFC 9110 §10.2.3) are both valid Retry-After values."""
    checks = judge_new_logins([refused(retry_after=value)], backend_alive=True, t=T)
    assert all(c.passed for c in checks), failed(checks)


def test_new_logins_fail_on_a_non_json_body() -> None:
    """A 503 whose body is not a JSON error fails the JSON check."""
    bad = failed(judge_new_logins([refused(json_error=False)], backend_alive=True, t=T))
    assert bad.keys() == {"refusals carry a JSON error"}
    assert bad["refusals carry a JSON error"].observed == "0.0% (0/1)"


def test_new_logins_fail_on_a_slow_refusal() -> None:
    """A refusal slower than 1000 ms fails even if it is a proper 503."""
    bad = failed(judge_new_logins([refused(), refused(latency_s=1.5)], backend_alive=True, t=T))
    assert bad.keys() == {"slowest refused login"}
    assert bad["slowest refused login"].observed == "1500 ms"
    assert bad["slowest refused login"].expected == "<= 1000 ms"


def test_new_logins_fail_when_the_backend_exited() -> None:
    """The backend crashing under login attempts is a failure on its own."""
    bad = failed(judge_new_logins([refused()], backend_alive=False, t=T))
    assert bad.keys() == {"backend still running"}
    assert bad["backend still running"].observed == "exited"


def test_new_logins_fail_with_no_attempts() -> None:
    """No attempt measured is not a pass."""
    bad = failed(judge_new_logins([], backend_alive=True, t=T))
    assert "logins refused with 503" in bad
    assert bad["slowest refused login"].observed == "nothing measured"


# ---------------------------------------------------------------------- the breaker


def breaker(**overrides: object) -> list[Check]:
    arguments: dict[str, object] = {
        "has_health": True,
        "open_after_s": 0.09,
        "rejections": [refused()] * 20,
        "open_call_baseline": [0.001] * 10,
        "open_call_outage": [0.0011] * 10,
        "backend_ready": True,
        "t": T,
    }
    arguments.update(overrides)
    return judge_breaker(**arguments)  # type: ignore[arg-type]


def test_breaker_passes_when_open_fast_unaffected_and_ready() -> None:
    """Opened in 90 ms, 2 ms refusals, open calls as fast as before, ready: all hold."""
    checks = breaker()
    assert all(c.passed for c in checks), failed(checks)
    assert [c.name for c in checks] == [
        "breaker reported OPEN after the kill",
        "logins refused with 503 + Retry-After",
        "login refusal p99 once open",
        "unauthenticated call p50 in the outage",
        "backend stays ready",
    ]


def test_breaker_fails_when_it_never_opened() -> None:
    """No open state seen is a failure, observed as 'nothing measured'."""
    bad = failed(breaker(open_after_s=None))
    assert bad.keys() == {"breaker reported OPEN after the kill"}
    assert bad["breaker reported OPEN after the kill"].observed == "nothing measured"


def test_breaker_fails_when_it_opened_too_late() -> None:
    """Opening after breaker_open_within_s fails."""
    bad = failed(breaker(open_after_s=6.0))
    assert bad["breaker reported OPEN after the kill"].observed == "6000 ms"


def test_breaker_fails_on_slow_refusals_at_p99() -> None:
    """One slow refusal in twenty pushes p99 over 100 ms."""
    bad = failed(breaker(rejections=[refused()] * 19 + [refused(latency_s=0.5)]))
    assert bad.keys() == {"login refusal p99 once open"}
    assert bad["login refusal p99 once open"].expected == "<= 100 ms"
    assert bad["login refusal p99 once open"].observed.endswith(" ms")
    assert float(bad["login refusal p99 once open"].observed.split()[0]) >= 495


def test_breaker_fails_with_no_refusal_measured() -> None:
    """No refusal latency at all is not a fast refusal."""
    bad = failed(breaker(rejections=[]))
    assert bad["login refusal p99 once open"].observed == "nothing measured"
    assert "logins refused with 503 + Retry-After" in bad


def test_breaker_fails_on_fast_answers_that_are_not_refusals() -> None:
    """Quick 500s, or a 503 without Retry-After, are not graceful refusals."""
    for wrong in (
        refused(status=500),
        refused(status=200, kind="ok", retry_after=None, json_error=False),
        refused(retry_after=None),
    ):
        bad = failed(breaker(rejections=[refused()] * 19 + [wrong]))
        assert bad.keys() == {"logins refused with 503 + Retry-After"}, wrong
        assert bad["logins refused with 503 + Retry-After"].observed.startswith("95.0% (19/20)")


def test_breaker_judges_load_arrivals_for_status_not_latency() -> None:
    """A login that arrived in the phase and got a 500 fails the status check; a slow
    proper refusal among them does not move the once-open p99."""
    slow_but_proper = refused(latency_s=0.5)
    assert all(c.passed for c in breaker(arrivals=[slow_but_proper] * 5))
    bad = failed(breaker(arrivals=[refused(status=500, retry_after=None)]))
    assert bad.keys() == {"logins refused with 503 + Retry-After"}
    assert "500 x1" in bad["logins refused with 503 + Retry-After"].observed


def test_breaker_fails_when_open_calls_slow_down_past_the_limit() -> None:
    """1 ms before, 10 ms during: over 3 x 1 ms + 5 ms slack."""
    bad = failed(breaker(open_call_baseline=[0.001] * 10, open_call_outage=[0.010] * 10))
    assert bad.keys() == {"unauthenticated call p50 in the outage"}
    check = bad["unauthenticated call p50 in the outage"]
    assert check.expected.startswith("<= 8")
    assert check.observed.startswith("10")


def test_breaker_allows_slowdown_within_factor_plus_slack() -> None:
    """7 ms during against a 1 ms baseline is inside 3 x 1 + 5 ms."""
    checks = breaker(open_call_baseline=[0.001] * 10, open_call_outage=[0.007] * 10)
    assert all(c.passed for c in checks), failed(checks)


def test_breaker_fails_when_open_calls_all_failed_in_the_outage() -> None:
    """A baseline but no successful open call during the outage is a failure."""
    bad = failed(breaker(open_call_outage=[]))
    assert bad["unauthenticated call p50 in the outage"].observed == "nothing measured"


def test_breaker_fails_when_the_backend_is_not_ready() -> None:
    """An auth outage that takes the backend out of rotation fails the phase."""
    bad = failed(breaker(backend_ready=False))
    assert bad.keys() == {"backend stays ready"}
    assert "not ready" in bad["backend stays ready"].observed


def test_breaker_without_a_health_section_has_no_breaker_check() -> None:
    """A target that reports no breaker is not judged on one (and cannot fail on it)."""
    checks = breaker(has_health=False, open_after_s=None)
    names = [c.name for c in checks]
    assert "breaker reported OPEN after the kill" not in names
    assert not any("breaker" in name for name in names)
    assert all(c.passed for c in checks)


def test_breaker_without_a_baseline_skips_the_slowdown_check() -> None:
    """With no open call to compare, there is no slowdown check."""
    names = [c.name for c in breaker(open_call_baseline=[], open_call_outage=[])]
    assert "unauthenticated call p50 in the outage" not in names


# ---------------------------------------------------------------------- restore


def test_restore_passes_when_ready_with_the_same_keys() -> None:
    """Ready again and every kid still published: both checks hold."""
    checks = judge_restore(ready_s=0.8, kids_before={"k1", "k2"}, kids_after={"k1", "k2", "k3"})
    assert all(c.passed for c in checks)
    assert by_name(checks)["auth ready again"].observed == "ready in 800 ms"


def test_restore_fails_naming_a_missing_kid() -> None:
    """A key published before the crash and gone after is named in what was observed."""
    bad = failed(judge_restore(ready_s=0.8, kids_before={"k1", "k2"}, kids_after={"k1", "k9"}))
    assert bad.keys() == {"same signing keys after restart"}
    observed = bad["same signing keys after restart"].observed
    assert "k2" in observed
    assert "k1" not in observed


def test_restore_fails_when_no_keys_could_be_read_after() -> None:
    """No keys published after the restart: every earlier kid is missing."""
    bad = failed(judge_restore(ready_s=0.8, kids_before={"k1"}, kids_after=None))
    assert "k1" in bad["same signing keys after restart"].observed


def test_restore_fails_when_auth_is_not_ready() -> None:
    """No readiness time means auth did not come back."""
    bad = failed(judge_restore(ready_s=None, kids_before={"k1"}, kids_after={"k1"}))
    assert bad.keys() == {"auth ready again"}
    assert bad["auth ready again"].observed == "not ready"


def test_restore_without_a_keys_section_checks_only_readiness() -> None:
    """A target without [keys] is judged on readiness alone."""
    checks = judge_restore(ready_s=0.8, kids_before=None, kids_after=None)
    assert [c.name for c in checks] == ["auth ready again"]
    assert checks[0].passed


# ---------------------------------------------------------------------- recover


def recover(**overrides: object) -> list[Check]:
    arguments: dict[str, object] = {
        "has_health": True,
        "closed_after_s": 0.45,
        "first_login_after_s": 0.5,
        "sessions": round_of("recover") * 3,
        "refreshes": [op("refresh", phase="recover")] * 3,
        "websocket_disconnects": 0,
        "t": T,
    }
    arguments.update(overrides)
    return judge_recover(**arguments)  # type: ignore[arg-type]


def test_recover_passes_when_everything_came_back() -> None:
    """Breaker closed, login back, old sessions and refresh fine, no disconnect."""
    checks = recover()
    assert all(c.passed for c in checks), failed(checks)
    assert [c.name for c in checks] == [
        "breaker CLOSED again by itself",
        "first new login after auth is back",
        "old sessions work on the same connections",
        "token refresh works",
        "WebSocket disconnects during the drill",
    ]


def test_recover_fails_when_the_breaker_never_closed() -> None:
    """No closed state after auth came back is a failure."""
    bad = failed(recover(closed_after_s=None))
    assert bad.keys() == {"breaker CLOSED again by itself"}
    assert bad["breaker CLOSED again by itself"].observed == "nothing measured"


def test_recover_fails_when_the_breaker_closed_too_late() -> None:
    """Closing later than breaker_close_within_s fails."""
    bad = failed(recover(closed_after_s=16.0))
    assert bad["breaker CLOSED again by itself"].observed == "16000 ms"


def test_recover_says_when_logins_were_arriving_as_the_breaker_closed() -> None:
    """Under load users' logins may be the trial calls: the check does not claim
    "by itself" then."""
    names = [c.name for c in recover(logins_arriving=True)]
    assert "breaker CLOSED again with logins arriving" in names
    assert "breaker CLOSED again by itself" not in names


def test_recover_fails_without_a_new_login() -> None:
    """No successful login after auth is back fails."""
    bad = failed(recover(first_login_after_s=None))
    assert bad.keys() == {"first new login after auth is back"}


def test_recover_fails_on_a_failed_old_session_and_names_it() -> None:
    """One old session's WebSocket closed with 4403 fails the phase, named in observed."""
    sessions = [
        *round_of("recover") * 2,
        op("ws_round_trip", ok=False, status=4403, error="closed", phase="recover"),
    ]
    bad = failed(recover(sessions=sessions))
    assert bad.keys() == {"old sessions work on the same connections"}
    observed = bad["old sessions work on the same connections"].observed
    assert "85.7% (6/7)" in observed
    assert "ws_round_trip:closed 4403 x1" in observed


def test_recover_fails_with_no_old_session_checked() -> None:
    """No old-session operation at all is not a recovery."""
    bad = failed(recover(sessions=[]))
    assert bad["old sessions work on the same connections"].observed == "no attempts"


def test_recover_fails_on_a_failed_refresh() -> None:
    """A refused token refresh fails the refresh check."""
    refreshes = [
        op("refresh", phase="recover"),
        op("refresh", ok=False, status=401, error="status", phase="recover"),
    ]
    bad = failed(recover(refreshes=refreshes))
    assert bad.keys() == {"token refresh works"}
    assert bad["token refresh works"].observed == "50.0% (1/2)"


def test_recover_fails_on_disconnects() -> None:
    """WebSockets lost over the drill fail the disconnect check."""
    bad = failed(recover(websocket_disconnects=2))
    assert bad.keys() == {"WebSocket disconnects during the drill"}
    assert bad["WebSocket disconnects during the drill"].observed == "2"


def test_recover_without_health_or_refresh_has_no_such_checks() -> None:
    """No health section: no breaker check; no refresh made: no refresh check."""
    names = [c.name for c in recover(has_health=False, closed_after_s=None, refreshes=[])]
    assert names == [
        "first new login after auth is back",
        "old sessions work on the same connections",
        "WebSocket disconnects during the drill",
    ]
