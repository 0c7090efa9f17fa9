"""The isolation drill: an auth failure must not cascade into the backend.

Phases: setup, sessions, fail (kill auth), isolation (backend still ready, its
database-backed endpoints healthy for existing sessions, WebSockets connected, routes
that need no auth as fast as before), restore (auth back on its port).
"""

from __future__ import annotations

from authdrill.drill._checks import at_most, fraction_at_least, holds
from authdrill.drill._definition import DrillDefinition
from authdrill.drill._engine import PhaseSpec
from authdrill.drill._env import DrillEnv
from authdrill.drill._judges import p
from authdrill.drill._model import Check
from authdrill.drill._phases import (
    FAIL,
    RESTORE,
    SESSIONS,
    SETUP,
    cleanup,
    existing_in,
    open_call_latencies,
)

__all__ = ["ISOLATION"]


async def isolation(env: DrillEnv) -> list[Check]:
    """Phase: with auth down, the backend and its dependants are unaffected."""
    t = env.thresholds
    ready = await env.service_ready(env.backend)
    before = env.open_websockets()
    if env.settings.load_mode:
        await env.hold(env.settings.outage_s, "outage")
    else:
        for _ in range(env.settings.persist_rounds):
            await env.gather_limited([env.session_round(c, "existing") for c in env.sessions])
    records = existing_in(env, "isolation")
    good = sum(r.ok for r in records)
    env.measurements["outage_session_success_rate"] = good / len(records) if records else None
    disconnects = before - env.open_websockets()
    env.measurements["websocket_disconnects"] = disconnects
    checks = [
        holds(
            "backend stays ready",
            ready,
            expected="readiness probe passes",
            observed="ready" if ready else "not ready",
        ),
        fraction_at_least(
            "database-backed calls of existing sessions",
            good,
            len(records),
            t.min_outage_session_success,
        ),
        at_most("WebSockets dropped", disconnects, t.max_websocket_disconnects),
    ]
    baseline = p(env.facts.get("open_call_baseline", []), 50)
    if baseline is not None:
        during = p(await open_call_latencies(env, 10), 50)
        limit = baseline * t.max_open_call_slowdown + t.open_call_slack_ms
        checks.append(at_most("unauthenticated call p50 with auth down", during, limit, unit="ms"))
    return checks


ISOLATION = DrillDefinition(
    name="isolation",
    title="Isolation: an auth failure does not cascade",
    phases=(
        SETUP,
        SESSIONS,
        FAIL,
        PhaseSpec("isolation", "Backend unaffected by the auth failure", isolation),
        RESTORE,
    ),
    cleanup=cleanup,
    measurements=(
        "auth_kill_to_down_ms",
        "outage_session_success_rate",
        "websocket_disconnects",
        "auth_restart_to_ready_ms",
    ),
)
