"""The auth-outage drill: the 8 phases of the DESIGN table.

====  ===========  ===========================================================
 1    setup        every service passes its readiness probe, still once all are up
 2    sessions     all N sessions established (login, WebSocket, calls)
 3    fail         auth SIGKILLed: pid gone and port refusing, measured
 4    persist      existing sessions keep working: 100 %, no WebSocket drop
 5    new_logins   logins through the backend: 503 + Retry-After + JSON, fast
 6    breaker      breaker OPEN, refusals fast, open routes unaffected, ready
 7    restore      auth restarted on its port: ready, same signing keys
 8    recover      breaker CLOSED by itself, old sessions on the same sockets,
                   new login and refresh work, nothing acknowledged lost,
                   recovery time measured
====  ===========  ===========================================================

In load mode every session keeps working in the background from phase 2 to 8 and new
logins arrive at a rate; phases hold their share of the outage window and judge the
traffic recorded while they ran (statistics per phase, population and operation).
"""

from __future__ import annotations

import asyncio
import time

from authdrill.drill._checks import at_most, fraction_at_least, holds
from authdrill.drill._definition import DrillDefinition
from authdrill.drill._engine import PhaseSpec
from authdrill.drill._env import DrillEnv
from authdrill.drill._judges import (
    LoginAttempt,
    judge_breaker,
    judge_existing,
    judge_new_logins,
    judge_persist,
    judge_recover,
    latency_normal_after,
    p,
)
from authdrill.drill._model import Check
from authdrill.drill._phases import (
    FAIL,
    RESTORE,
    SESSIONS,
    SETUP,
    cleanup,
    existing_in,
    integrity,
    open_call_latencies,
)
from authdrill.errors import SessionError
from authdrill.process import is_listening
from authdrill.record import Histogram

__all__ = ["AUTH_OUTAGE"]

_REJECTION_SAMPLES = 20
_REJECTION_BUDGET_S = 3.0
_RETRY_LOGIN_EVERY_S = 0.05
_SESSION_OPS = frozenset({"api_call", "api_write", "ws_round_trip"})
_MIN_WINDOW_SAMPLES = 20  # below that a window's p95 is just its maximum


async def persist(env: DrillEnv) -> list[Check]:
    """Phase 4: every session keeps calling and round-tripping while auth is down."""
    before = env.open_websockets()
    if env.settings.load_mode:
        await env.hold(env.settings.outage_s * 0.6, "outage")
    else:
        for round_number in range(env.settings.persist_rounds):
            env.progress.note(f"outage round {round_number + 1}/{env.settings.persist_rounds}")
            await env.gather_limited([env.session_round(c, "existing") for c in env.sessions])
    after = env.open_websockets()
    spec = env.auth.spec
    auth_down = spec.port is None or not await is_listening(spec.host, spec.port)
    records = existing_in(env, "fail", "persist")  # from the kill on
    good = sum(r.ok for r in records)
    env.measurements["outage_session_success_rate"] = good / len(records) if records else None
    return judge_persist(
        records,
        websockets_before=before,
        websockets_after=after,
        auth_down_after=auth_down,
        t=env.thresholds,
    )


async def new_logins(env: DrillEnv) -> list[Check]:
    """Phase 5: users try to log in through the backend while auth is down."""
    if env.settings.load_mode:
        await env.hold(env.settings.outage_s * 0.2, "new logins arriving")
    users = max(1, env.settings.users)
    clients = [env.new_client(i % users) for i in range(env.settings.outage_logins)]
    attempts: list[LoginAttempt] = await env.gather_limited(
        [env.attempt_login(c, "new") for c in clients]
    )
    # arrivals while the kill lands ("fail") may still reach a live auth and succeed
    # rightly, so they are not judged; the breaker phase judges its own
    attempts += [a for phase, a in env.arrivals if phase in {"persist", "new_logins"}]
    env.measurements["outage_login_p99_ms"] = p((a.latency_s for a in attempts), 99)
    env.measurements["outage_logins"] = len(attempts)
    checks = judge_new_logins(attempts, backend_alive=env.backend.running, t=env.thresholds)
    if env.settings.load_mode:
        minimum = env.thresholds.min_outage_session_success
        checks.append(
            judge_existing(existing_in(env, "new_logins"), during="meanwhile", minimum=minimum)
        )
    return checks


async def breaker(env: DrillEnv) -> list[Check]:
    """Phase 6: the breaker is OPEN, refusals are fast, auth-free calls unaffected, ready."""
    kill_at: float = env.facts["kill_at"]
    open_after: float | None = None
    if env.sampler is not None and env.target.health is not None:
        deadline = kill_at + env.thresholds.breaker_open_within_s
        opened_at = await env.sampler.wait_for(
            env.target.health.open_value,
            after=kill_at,
            timeout_s=max(0.0, deadline - env.recorder.now()),
        )
        open_after = None if opened_at is None else opened_at - kill_at
    env.measurements["breaker_open_after_ms"] = None if open_after is None else open_after * 1000
    client = env.new_client(0)
    rejections: list[LoginAttempt] = []
    budget_ends = env.recorder.now() + _REJECTION_BUDGET_S  # a slow backend gets fewer samples
    while len(rejections) < _REJECTION_SAMPLES and (
        not rejections or env.recorder.now() < budget_ends
    ):
        rejections.append(await env.attempt_login(client, "new"))
    env.measurements["rejection_p99_ms"] = p((a.latency_s for a in rejections), 99)
    if env.settings.load_mode:
        await env.hold(env.settings.outage_s * 0.2, "breaker open")
    checks = judge_breaker(
        has_health=env.target.health is not None,
        open_after_s=open_after,
        rejections=rejections,
        arrivals=[a for phase, a in env.arrivals if phase == "breaker"],
        open_call_baseline=env.facts.get("open_call_baseline", []),
        open_call_outage=await open_call_latencies(env, 10),
        backend_ready=await env.service_ready(env.backend),
        t=env.thresholds,
    )
    if env.settings.load_mode:
        minimum = env.thresholds.min_outage_session_success
        checks.append(
            judge_existing(existing_in(env, "breaker"), during="meanwhile", minimum=minimum)
        )
    return checks


async def _first_login(env: DrillEnv, deadline: float) -> float | None:
    """Retry a login through the backend until it works; when it first did."""
    client = env.new_client(0)
    while env.recorder.now() < deadline:
        attempt = await env.attempt_login(client, "new")
        if attempt.kind == "ok":
            return env.recorder.now()
        await asyncio.sleep(_RETRY_LOGIN_EVERY_S)  # a user retrying, not a settle
    return None


async def _breaker_closed(env: DrillEnv, ready_at: float) -> float | None:
    if env.sampler is None or env.target.health is None:
        return None
    deadline = ready_at + env.thresholds.breaker_close_within_s
    return await env.sampler.wait_for(
        env.target.health.closed_value,
        after=ready_at,
        timeout_s=max(0.0, deadline - env.recorder.now()),
    )


async def _refresh_all(env: DrillEnv) -> None:
    if env.target.session.refresh is None:
        return

    async def refresh(client: object) -> None:
        try:
            async with env.recorder.measure("refresh", "existing") as m:
                m.status = await client.refresh()  # type: ignore[attr-defined]
        except SessionError:
            return

    await env.gather_limited([refresh(c) for c in env.sessions])


def _load_recovery_checks(env: DrillEnv, ready_at: float, closed_at: float | None) -> list[Check]:
    """Under load: latency back to the baseline, and logins after the close all succeed."""
    checks: list[Check] = []
    baseline = Histogram()
    baseline.extend(r.latency for r in existing_in(env, "baseline") if r.op in _SESSION_OPS)
    baseline_p95 = baseline.percentile(95)
    recovered = [
        r
        for r in existing_in(env, "restore", "recover")
        if r.op in _SESSION_OPS and r.start >= ready_at
    ]
    # too few operations after the restart to judge a p95: no check rather than a coin toss
    if baseline_p95 is not None and len(recovered) >= _MIN_WINDOW_SAMPLES:
        t = env.thresholds
        normal_after = latency_normal_after(
            recovered,
            since=ready_at,
            baseline_p95_s=baseline_p95,
            margin=t.latency_margin,
            slack_s=t.latency_slack_ms / 1000,
            min_samples=_MIN_WINDOW_SAMPLES,
        )
        env.measurements["latency_normal_after_recovery_ms"] = (
            None if normal_after is None else normal_after * 1000
        )
        name = f"session p95 back within +{t.latency_margin:.0%} or +{t.latency_slack_ms:g} ms"
        checks.append(
            at_most(
                f"{name} of baseline",
                None if normal_after is None else normal_after * 1000,
                env.settings.recovery_s * 1000,
                unit="ms",
            )
        )
    if closed_at is not None and env.settings.rate > 0:
        logins = env.recorder.records(phase="recover", op="backend_login", population="new")
        settled = [r for r in logins if r.start >= closed_at]
        checks.append(
            fraction_at_least(
                "new logins after the breaker closed",
                sum(r.ok for r in settled),
                len(settled),
                env.thresholds.min_new_login_success_after_recovery,
            )
        )
    return checks


async def recover(env: DrillEnv) -> list[Check]:
    """Phase 8: breaker closes by itself, logins come back, old sessions and refresh
    work, nothing acknowledged was lost."""
    ready_at: float = env.facts["auth_ready_at"]
    login_deadline = ready_at + env.thresholds.recovery_login_within_s
    if env.settings.load_mode:  # logins keep arriving anyway: watch both at once
        first_login, closed = await asyncio.gather(
            _first_login(env, login_deadline), _breaker_closed(env, ready_at)
        )
    else:
        # no login until the breaker reports CLOSED: a retrying user's login would be its
        # half-open trial call, and "closed by itself" would prove nothing
        closed = await _breaker_closed(env, ready_at)
        first_login = await _first_login(env, login_deadline)
    env.measurements["recovery_to_first_login_ms"] = (
        None if first_login is None else (first_login - ready_at) * 1000
    )
    env.measurements["breaker_closed_after_recovery_ms"] = (
        None if closed is None else (closed - ready_at) * 1000
    )
    if env.settings.load_mode:
        await env.hold(env.settings.recovery_s, "recovery")  # the load's rounds are the evidence
    else:
        started = time.perf_counter()
        await env.gather_limited([env.session_round(c, "existing") for c in env.sessions])
        env.progress.note(f"old sessions checked in {time.perf_counter() - started:.2f} s")
    session_records = [r for r in existing_in(env, "recover") if r.op != "refresh"]
    await _refresh_all(env)
    disconnects = env.facts.get("websockets_opened", 0) - env.open_websockets()
    env.measurements["websocket_disconnects"] = disconnects
    checks = judge_recover(
        has_health=env.target.health is not None,
        closed_after_s=None if closed is None else closed - ready_at,
        first_login_after_s=None if first_login is None else first_login - ready_at,
        sessions=session_records,
        refreshes=list(env.recorder.records(phase="recover", op="refresh")),
        websocket_disconnects=disconnects,
        t=env.thresholds,
        logins_arriving=env.settings.load_mode,
    )
    if env.settings.load_mode:
        checks += _load_recovery_checks(env, ready_at, closed)
    checks += await integrity(env)  # stops the load first
    if env.driver is not None:
        crashes = env.driver.crashes
        checks.append(
            holds(
                "load driver ran without crashed sessions",
                not crashes,
                expected="0 crashed session loops",
                observed=f"{len(crashes)} crashed" + (f": {crashes[0]}" if crashes else ""),
            )
        )
    return checks


AUTH_OUTAGE = DrillDefinition(
    name="auth-outage",
    title="Auth outage: users keep working, logins fail fast, everything recovers by itself",
    phases=(
        SETUP,
        SESSIONS,
        FAIL,
        PhaseSpec("persist", "Existing sessions keep working", persist),
        PhaseSpec("new_logins", "New logins fail gracefully", new_logins),
        PhaseSpec("breaker", "Circuit breaker open; no cascade", breaker),
        RESTORE,
        PhaseSpec("recover", "Seamless recovery", recover),
    ),
    cleanup=cleanup,
    measurements=(
        "auth_kill_to_down_ms",
        "auth_restart_to_ready_ms",
        "recovery_to_first_login_ms",
        "outage_session_success_rate",
        "outage_login_p99_ms",
        "breaker_open_after_ms",
        "breaker_closed_after_recovery_ms",
        "websocket_disconnects",
        "latency_normal_after_recovery_ms",
        "rejection_p99_ms",
        "outage_logins",
        "acknowledged_writes",
        "lost_writes",
        "baseline_ops_per_s",
        "memory_per_session_kb",
    ),
)
