"""Phases several drills share: set up, open sessions, kill auth, restore it; cleanup.

Each phase does its I/O through :class:`~authdrill.drill._env.DrillEnv` and hands
what it saw to a pure judge (:mod:`authdrill.drill._judges`). In load mode
(``settings.duration_s > 0``) the sessions phase also starts the background load and
holds a baseline; the load then runs through every later phase until recovery.
"""

from __future__ import annotations

import contextlib
import time

import httpx
import psutil

from authdrill.drill._engine import PhaseSpec
from authdrill.drill._env import DrillEnv
from authdrill.drill._judges import (
    judge_existing,
    judge_fail,
    judge_integrity,
    judge_restore,
    judge_sessions,
    judge_setup,
)
from authdrill.drill._model import Check
from authdrill.errors import AuthdrillError, SessionError
from authdrill.record import OpRecord

__all__ = [
    "FAIL",
    "RESTORE",
    "SESSIONS",
    "SETUP",
    "cleanup",
    "existing_in",
    "fail",
    "integrity",
    "open_call_latencies",
    "published_kids",
    "restore",
    "sessions",
    "setup",
]

MEMORY_SAMPLE_MIN_USERS = 100  # fewer sessions: memory_per_session_kb is left out (None)


async def setup(env: DrillEnv) -> list[Check]:
    """Phase: start every service on a free port, dependencies first; start observing."""
    starts = await env.start_target()
    judged = []
    for name, ready_s in starts:
        service = env.supervisor[name]
        judged.append((name, ready_s, service.running and await env.service_ready(service)))
    env.start_observers()
    return judge_setup(judged)


async def open_call_latencies(env: DrillEnv, samples: int) -> list[float]:
    """Latencies (s) of the target's unauthenticated call, made one after another."""
    if env.target.session.open_call is None or not env.sessions:
        return []
    client = env.sessions[0]
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        try:
            async with env.recorder.measure("open_call", "probe") as m:
                m.status = await client.open_call()
        except SessionError:
            continue
        latencies.append(time.perf_counter() - started)
    return latencies


async def published_kids(env: DrillEnv) -> set[str] | None:
    """The key ids auth publishes now (``None`` if the target has no ``[keys]``)."""
    keys = env.target.keys
    if keys is None:
        return None
    response = await env.http.get(
        env.urls[keys.service] + keys.path, timeout=env.settings.request_timeout_s
    )
    document = response.json()
    return {str(k.get("kid")) for k in document.get("keys", []) if isinstance(k, dict)}


def _first_failure(env: DrillEnv, phase: str) -> str:
    failed = next((r for r in env.recorder.records(phase=phase) if not r.ok), None)
    if failed is None:
        return "unknown reason"
    status = f" (status {failed.status})" if failed.status else ""
    return f"{failed.op} failed: {failed.error}{status}"


def existing_in(env: DrillEnv, *phases: str) -> list[OpRecord]:
    """Existing sessions' records of ``phases`` (the load's traffic in that window)."""
    return [r for phase in phases for r in env.recorder.records(phase=phase, population="existing")]


async def sessions(env: DrillEnv) -> list[Check]:
    """Phase: N users register, log in, open a WebSocket and make calls (then, under
    load, keep doing so through a baseline window)."""
    users = env.settings.users
    clients = [env.new_client(i) for i in range(users)]
    env.progress.note(f"opening {users} sessions")
    rss_before = psutil.Process().memory_info().rss
    results = await env.gather_limited([env.open_session(c, "existing") for c in clients])
    grown = psutil.Process().memory_info().rss - rss_before
    # with a handful of sessions, one-off allocations (the first connection, lazy
    # imports) are the whole figure; per session it means something from ~100 up
    if users >= MEMORY_SAMPLE_MIN_USERS:
        env.measurements["memory_per_session_kb"] = max(0, grown) / 1024 / users
    env.sessions = [client for client, ok in zip(clients, results, strict=True) if ok]
    if not env.sessions:
        raise SessionError(f"no session could be established: {_first_failure(env, 'sessions')}")
    env.facts["websockets_opened"] = env.open_websockets()
    env.facts["open_call_baseline"] = await open_call_latencies(env, 10)
    try:
        env.facts["kids_before"] = await published_kids(env)
    except (httpx.HTTPError, ValueError) as exc:
        raise SessionError(f"could not read auth's published keys: {exc}") from exc
    checks = judge_sessions(sum(results), users, env.thresholds)
    if env.settings.load_mode:
        env.start_load()
        env.enter("baseline")
        await env.hold(env.settings.baseline_s, "baseline")
        baseline_ops = len(existing_in(env, "baseline"))
        env.measurements["baseline_ops_per_s"] = baseline_ops / env.settings.baseline_s
        checks.append(
            judge_existing(
                existing_in(env, "baseline"),
                during="in the baseline",
                minimum=env.thresholds.min_outage_session_success,
            )
        )
    return checks


async def fail(env: DrillEnv) -> list[Check]:
    """Phase: SIGKILL auth's process tree; confirm pid gone and port refusing."""
    env.facts["kill_at"] = env.recorder.now()
    env.progress.note(f"killing {env.target.auth} (pid {env.auth.pid})")
    report = await env.auth.kill()
    down = (
        max(report.pid_gone_s, report.port_refusing_s)
        if report.pid_gone_s is not None and report.port_refusing_s is not None
        else None
    )
    env.measurements["auth_kill_to_down_ms"] = None if down is None else down * 1000
    return judge_fail(report.pid_gone_s, report.port_refusing_s)


async def restore(env: DrillEnv) -> list[Check]:
    """Phase: restart auth on its original port; ready again, with the same keys."""
    started_at = env.recorder.now()
    report = await env.auth.start()  # same spec: same port, same data directory
    env.facts["auth_ready_at"] = started_at + report.ready_s
    env.measurements["auth_restart_to_ready_ms"] = report.ready_s * 1000
    try:
        kids_after = await published_kids(env)
    except (httpx.HTTPError, ValueError):
        kids_after = set()
    checks = judge_restore(
        ready_s=report.ready_s, kids_before=env.facts.get("kids_before"), kids_after=kids_after
    )
    if env.settings.load_mode:
        checks.append(
            judge_existing(
                existing_in(env, "restore"),
                during="while auth restarts",
                minimum=env.thresholds.min_outage_session_success,
            )
        )
    return checks


async def integrity(env: DrillEnv) -> list[Check]:
    """Every write acknowledged during the drill can be read back (stops the load first)."""
    await env.stop_load()
    spec = env.target.integrity
    if spec is None:
        return []
    missing: list[object] = []
    unread = 0
    acknowledged = 0
    for client in env.sessions:
        acknowledged += len(client.acknowledged)
        if not client.acknowledged:
            continue
        try:
            present = set(await client.read_back(spec))
        except SessionError:
            unread += 1
            continue
        missing.extend(ack for ack in client.acknowledged if ack not in present)
    env.measurements["acknowledged_writes"] = acknowledged
    env.measurements["lost_writes"] = len(missing)
    return judge_integrity(
        acknowledged=acknowledged,
        missing=missing,
        unread=unread,
        minimum=env.thresholds.min_integrity,
    )


async def cleanup(env: DrillEnv) -> None:
    """Always: stop load and observers, close sessions, bring auth back if left down."""
    await env.stop_load()
    await env.stop_observers()
    await env.close_sessions()
    if env.target.auth in env.supervisor and "kill_at" in env.facts and not env.auth.running:
        env.progress.note(f"rollback: restarting {env.target.auth}")
        with contextlib.suppress(AuthdrillError, OSError):
            await env.auth.start()


SETUP = PhaseSpec("setup", "Start the target on free ports", setup, critical=True)
SESSIONS = PhaseSpec("sessions", "Open user sessions (login, WebSocket, calls)", sessions)
FAIL = PhaseSpec("fail", "Kill auth (SIGKILL, whole process tree)", fail, critical=True)
RESTORE = PhaseSpec("restore", "Restart auth on its port", restore, critical=True)
