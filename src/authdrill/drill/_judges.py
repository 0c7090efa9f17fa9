"""Verdicts of the auth-outage drill's phases, from recorded data only (pure).

The phases (:mod:`authdrill.drill._auth_outage`) do the I/O and hand what they saw to
these functions; nothing here touches a socket or a clock, so every verdict can be
tested by feeding it data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from authdrill.drill._checks import at_most, fraction_at_least, holds
from authdrill.drill._model import Check
from authdrill.drill._settings import Thresholds
from authdrill.record import Histogram, OpRecord

__all__ = [
    "LoginAttempt",
    "judge_breaker",
    "judge_existing",
    "judge_fail",
    "judge_integrity",
    "judge_new_logins",
    "judge_persist",
    "judge_recover",
    "judge_restore",
    "judge_sessions",
    "judge_setup",
    "latency_normal_after",
    "p",
]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def p(latencies: Iterable[float], percentile: float) -> float | None:
    """The ``percentile`` of ``latencies`` (seconds) in milliseconds, or ``None``."""
    histogram = Histogram()
    histogram.extend(latencies)
    value = histogram.percentile(percentile)
    return _ms(value)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A login attempted during the outage, as the client saw it.

    Attributes:
        status: the HTTP status, or ``None`` when no answer came (refused, timeout).
        kind: ``ok`` or the failure kind of the session client.
        latency_s: from sending to the answer (or the failure).
        retry_after: the ``Retry-After`` header, if any.
        json_error: whether the body was a JSON object with an ``error``.
    """

    status: int | None
    kind: str
    latency_s: float
    retry_after: str | None
    json_error: bool


def judge_setup(starts: Sequence[tuple[str, float, bool]]) -> list[Check]:
    """One check per service: ``(name, ready_s, still_ready)``.

    A service that never got ready has already failed the start (the phase errors);
    what can still go wrong is one that was ready and is not any more once the
    services started after it are up (it crashed, or a dependant broke it).
    """
    return [
        holds(
            f"{name} ready with every service up",
            still_ready,
            expected="its readiness probe passes once all are started",
            observed=f"ready in {ready_s * 1000:.0f} ms"
            + ("" if still_ready else ", then not ready any more"),
        )
        for name, ready_s, still_ready in starts
    ]


def judge_sessions(established: int, users: int, t: Thresholds) -> list[Check]:
    """Sessions (login + WebSocket + calls) established out of ``users``."""
    return [
        fraction_at_least("sessions established", established, users, t.min_sessions_established)
    ]


def judge_fail(pid_gone_s: float | None, port_refusing_s: float | None) -> list[Check]:
    """The auth process tree is gone and its port refuses connections."""
    return [
        holds(
            "auth process gone",
            pid_gone_s is not None,
            expected="process reaped",
            observed="still running"
            if pid_gone_s is None
            else f"gone after {pid_gone_s * 1000:.1f} ms",
        ),
        holds(
            "auth port refuses connections",
            port_refusing_s is not None,
            expected="connection refused",
            observed="still accepting"
            if port_refusing_s is None
            else f"refused after {port_refusing_s * 1000:.1f} ms",
        ),
    ]


def _with_detail(check: Check, detail: str) -> Check:
    """``check`` with ``detail`` appended to what was observed."""
    return Check(check.name, check.passed, check.expected, f"{check.observed}; {detail}")


def _by_op(records: Sequence[OpRecord]) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for record in records:
        good, total = counts.get(record.op, (0, 0))
        counts[record.op] = (good + record.ok, total + 1)
    return counts


def _failure_summary(records: Sequence[OpRecord]) -> str:
    kinds: dict[str, int] = {}
    for record in records:
        if not record.ok:
            label = f"{record.op}:{record.error}{f' {record.status}' if record.status else ''}"
            kinds[label] = kinds.get(label, 0) + 1
    return ", ".join(f"{label} x{n}" for label, n in sorted(kinds.items()))


def judge_persist(
    records: Sequence[OpRecord],
    *,
    websockets_before: int,
    websockets_after: int,
    auth_down_after: bool,
    t: Thresholds,
) -> list[Check]:
    """Existing sessions kept working while auth was down (and auth really was down)."""
    good = sum(r.ok for r in records)
    overall = fraction_at_least(
        "existing sessions succeed during the outage",
        good,
        len(records),
        t.min_outage_session_success,
    )
    if not overall.passed and records:
        overall = _with_detail(overall, f"failures: {_failure_summary(records)}")
    checks = [overall]
    for op, (op_good, op_total) in sorted(_by_op(records).items()):
        checks.append(
            fraction_at_least(
                f"{op} during the outage", op_good, op_total, t.min_outage_session_success
            )
        )
    checks.append(
        at_most(
            "WebSocket disconnects during the outage",
            websockets_before - websockets_after,
            t.max_websocket_disconnects,
        )
    )
    checks.append(
        holds(
            "auth stayed down throughout",
            auth_down_after,
            expected="auth's port still refusing at the end of the phase",
            observed="refusing" if auth_down_after else "accepting again: something restarted it",
        )
    )
    return checks


def _describe_statuses(attempts: Sequence[LoginAttempt]) -> str:
    seen: dict[str, int] = {}
    for attempt in attempts:
        label = str(attempt.status) if attempt.status is not None else attempt.kind
        seen[label] = seen.get(label, 0) + 1
    return ", ".join(f"{label} x{n}" for label, n in sorted(seen.items()))


def judge_new_logins(
    attempts: Sequence[LoginAttempt], *, backend_alive: bool, t: Thresholds
) -> list[Check]:
    """Logins during the outage were refused cleanly: status, Retry-After, JSON, fast."""
    total = len(attempts)
    refused = sum(a.status == t.login_refusal_status for a in attempts)
    with_retry = sum(
        a.status == t.login_refusal_status and _valid_retry_after(a.retry_after) for a in attempts
    )
    with_json = sum(a.status == t.login_refusal_status and a.json_error for a in attempts)
    slowest = max((a.latency_s for a in attempts), default=None)
    status_check = fraction_at_least(
        f"logins refused with {t.login_refusal_status}", refused, total, 1.0
    )
    if not status_check.passed:
        status_check = _with_detail(status_check, f"seen {_describe_statuses(attempts)}")
    return [
        status_check,
        fraction_at_least("refusals carry Retry-After", with_retry, total, 1.0),
        fraction_at_least("refusals carry a JSON error", with_json, total, 1.0),
        at_most(
            "slowest refused login",
            _ms(slowest),
            t.max_login_latency_ms,
            unit="ms",
        ),
        holds(
            "backend still running",
            backend_alive,
            expected="process alive",
            observed="alive" if backend_alive else "exited",
        ),
    ]


def _valid_retry_after(value: str | None) -> bool:
    """An integer number of seconds >= 0, or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return False
    text = value.strip()
    return text.isdigit() or (len(text) > 20 and text[3:5] == ", ")  # noqa: PLR2004


def judge_breaker(
    *,
    has_health: bool,
    open_after_s: float | None,
    rejections: Sequence[LoginAttempt],
    open_call_baseline: Sequence[float],
    open_call_outage: Sequence[float],
    backend_ready: bool,
    t: Thresholds,
    arrivals: Sequence[LoginAttempt] = (),
) -> list[Check]:
    """The breaker opened, refusals are fast and proper, auth-free calls are unaffected,
    still ready.

    ``rejections`` are logins tried once the breaker was seen open (their p99 is
    judged); ``arrivals`` are other logins of the phase (load mode), judged for status
    and ``Retry-After`` only.
    """
    checks = []
    if has_health:
        checks.append(
            at_most(
                "breaker reported OPEN after the kill",
                _ms(open_after_s),
                t.breaker_open_within_s * 1000,
                unit="ms",
            )
        )
    refused = [*rejections, *arrivals]
    proper = sum(
        a.status == t.login_refusal_status and _valid_retry_after(a.retry_after) for a in refused
    )
    status_check = fraction_at_least(
        f"logins refused with {t.login_refusal_status} + Retry-After", proper, len(refused), 1.0
    )
    if not status_check.passed and refused:
        status_check = _with_detail(status_check, f"seen {_describe_statuses(refused)}")
    checks.append(status_check)
    checks.append(
        at_most(
            "login refusal p99 once open",
            p((a.latency_s for a in rejections), 99),
            t.max_rejection_p99_ms,
            unit="ms",
        )
    )
    baseline = p(open_call_baseline, 50)
    if baseline is not None:
        limit = baseline * t.max_open_call_slowdown + t.open_call_slack_ms
        checks.append(
            at_most(
                "unauthenticated call p50 in the outage", p(open_call_outage, 50), limit, unit="ms"
            )
        )
    checks.append(
        holds(
            "backend stays ready",
            backend_ready,
            expected="readiness probe passes",
            observed="ready"
            if backend_ready
            else "not ready: taken out of rotation by an auth outage",
        )
    )
    return checks


def judge_restore(
    *, ready_s: float | None, kids_before: set[str] | None, kids_after: set[str] | None
) -> list[Check]:
    """Auth is ready again on its port, publishing the keys it had before the crash."""
    checks = [
        holds(
            "auth ready again",
            ready_s is not None,
            expected="readiness probe passes",
            observed="not ready" if ready_s is None else f"ready in {ready_s * 1000:.0f} ms",
        )
    ]
    if kids_before is not None:
        missing = sorted(kids_before - (kids_after or set()))
        checks.append(
            holds(
                "same signing keys after restart",
                not missing,
                expected="every key published before is still published",
                observed="all present"
                if not missing
                else f"missing {', '.join(missing)}: new keys at start?",
            )
        )
    return checks


def judge_recover(
    *,
    has_health: bool,
    closed_after_s: float | None,
    first_login_after_s: float | None,
    sessions: Sequence[OpRecord],
    refreshes: Sequence[OpRecord],
    websocket_disconnects: int,
    t: Thresholds,
    logins_arriving: bool = False,
) -> list[Check]:
    """Everything came back by itself: breaker, logins, old sessions, refresh.

    ``logins_arriving``: users' logins reached the backend while the breaker closed
    (load mode), so it may have closed on their trial calls rather than by itself.
    """
    checks = []
    if has_health:
        how = "with logins arriving" if logins_arriving else "by itself"
        checks.append(
            at_most(
                f"breaker CLOSED again {how}",
                _ms(closed_after_s),
                t.breaker_close_within_s * 1000,
                unit="ms",
            )
        )
    checks.append(
        at_most(
            "first new login after auth is back",
            _ms(first_login_after_s),
            t.recovery_login_within_s * 1000,
            unit="ms",
        )
    )
    good = sum(r.ok for r in sessions)
    session_check = fraction_at_least(
        "old sessions work on the same connections",
        good,
        len(sessions),
        t.min_recovered_session_success,
    )
    if not session_check.passed and sessions:
        session_check = _with_detail(session_check, f"failures: {_failure_summary(sessions)}")
    checks.append(session_check)
    if refreshes:
        checks.append(
            fraction_at_least(
                "token refresh works", sum(r.ok for r in refreshes), len(refreshes), 1.0
            )
        )
    checks.append(
        at_most(
            "WebSocket disconnects during the drill",
            websocket_disconnects,
            t.max_websocket_disconnects,
        )
    )
    return checks


def judge_existing(records: Sequence[OpRecord], *, during: str, minimum: float) -> Check:
    """Existing sessions' operations ``during`` a window all (``minimum``) succeeded."""
    good = sum(r.ok for r in records)
    check = fraction_at_least(f"existing sessions succeed {during}", good, len(records), minimum)
    if not check.passed and records:
        check = _with_detail(check, f"failures: {_failure_summary(records)}")
    return check


def latency_normal_after(
    records: Sequence[OpRecord],
    *,
    since: float,
    baseline_p95_s: float,
    margin: float,
    window_s: float = 1.0,
    slack_s: float = 0.0,
    min_samples: int = 1,
) -> float | None:
    """Seconds after ``since`` until a window of ``records`` had its p95 back to normal
    (``None``: never, in what was recorded).

    Normal means at most ``baseline_p95_s * (1 + margin)`` or ``baseline_p95_s + slack_s``,
    whichever is larger. Windows start at ``since`` and step by ``window_s``; a window
    with fewer than ``min_samples`` operations is merged with the next ones (a p95 of a
    handful of samples is just their maximum), and an empty window does not count.
    """
    limit = max(baseline_p95_s * (1 + margin), baseline_p95_s + slack_s)
    windows: dict[int, list[float]] = {}
    for record in records:
        if record.start >= since:
            windows.setdefault(int((record.start - since) // window_s), []).append(record.latency)
    pending = Histogram()
    started: int | None = None
    for index in sorted(windows):
        started = index if started is None else started
        pending.extend(windows[index])
        if pending.count < min_samples:
            continue
        p95 = pending.percentile(95)
        if p95 is not None and p95 <= limit:
            return started * window_s
        pending, started = Histogram(), None
    return None


def judge_integrity(
    *, acknowledged: int, missing: Sequence[object], unread: int, minimum: float
) -> list[Check]:
    """Every write acknowledged during the drill is still there afterwards."""
    present = acknowledged - len(missing)
    check = fraction_at_least(
        "acknowledged writes present afterwards", present, acknowledged, minimum
    )
    if missing:
        shown = ", ".join(map(str, list(missing)[:10]))
        check = _with_detail(check, f"missing ids: {shown}{' …' if len(missing) > 10 else ''}")  # noqa: PLR2004
    checks = [check]
    checks.append(
        holds(
            "every user's writes could be read back",
            unread == 0,
            expected="0 unreadable",
            observed=f"{unread} unreadable",
        )
    )
    return checks
