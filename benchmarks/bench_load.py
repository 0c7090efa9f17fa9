"""The load driver's limits, and a 1000-session auth outage on the built-in stack.

Three measurements in one run:

1. **recording cost**: time and memory per recorded operation (``Recorder.add``);
2. **driver ceiling**: how many operations per second this process drives against a
   trivial endpoint (the backend's ``/health/live``) with sessions that never think —
   everything is on this machine's 2 cores, so this is the ceiling of driver + server;
3. **the big drill**: the auth-outage drill with ``--users`` sessions (HTTP +
   WebSocket each) kept busy for ``--duration``, new logins arriving at ``--rate``;
   passes only if every existing session's operation succeeds through the outage,
   no WebSocket drops, nothing acknowledged is lost. Prints memory per session and
   writes the JSON and HTML reports.

    .venv/bin/python benchmarks/bench_load.py [--users 1000] [--duration 60] [--rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

from authdrill import DrillSettings, Recorder, SessionClient, Supervisor, builtin_target, run_drill
from authdrill.load import LoadDriver, LoadProfile, ensure_capacity
from authdrill.process import free_port
from authdrill.report import write_html, write_json
from authdrill.session import new_http_session
from authdrill.target import allocate_ports, render_services, service_urls


def recording_cost(records: int = 500_000) -> tuple[float, float]:
    """Microseconds and bytes per ``Recorder.add``."""
    recorder = Recorder()
    rss = psutil.Process().memory_info().rss
    started = time.perf_counter()
    for i in range(records):
        recorder.add("api_call", "existing", start=i * 0.001, latency=0.002, ok=True, status=200)
    elapsed = time.perf_counter() - started
    grown = psutil.Process().memory_info().rss - rss
    return elapsed / records * 1e6, max(0, grown) / records


async def driver_ceiling(seconds: float, sessions: int) -> tuple[float, float]:
    """Operations per second, and driver CPU microseconds per operation, at zero think time."""
    target = builtin_target()
    with tempfile.TemporaryDirectory() as tmp:
        ports = allocate_ports(target, free_port)
        specs = render_services(
            target, run_dir=Path(tmp), ports=ports, python=sys.executable, environ=os.environ
        )
        async with Supervisor(Path(tmp) / "run") as sup, new_http_session() as http:
            for spec in specs:
                await sup.start(spec)
            urls = service_urls(target, ports)
            clients = [
                SessionClient(target.session, urls, http=http, username=f"ceiling-{i}")
                for i in range(sessions)
            ]
            recorder = Recorder()

            async def round_(client: SessionClient) -> None:
                async with recorder.measure("open_call", "probe") as m:
                    m.status = await client.open_call()

            profile = LoadProfile(think_time_s=0.0, max_duration_s=seconds + 5)
            cpu = psutil.Process().cpu_times()
            started = time.perf_counter()
            async with LoadDriver(
                sessions=clients, session_round=round_, arrival=None, profile=profile
            ):
                await asyncio.sleep(seconds)  # the measured interval
            elapsed = time.perf_counter() - started
            used = psutil.Process().cpu_times()
            cpu_s = (used.user - cpu.user) + (used.system - cpu.system)
    return len(recorder) / elapsed, cpu_s / max(1, len(recorder)) * 1e6


REPORTED = (
    *("baseline_ops_per_s", "memory_per_session_kb", "websocket_disconnects"),
    *("acknowledged_writes", "lost_writes", "outage_logins", "outage_login_p99_ms"),
    *("rejection_p99_ms", "breaker_open_after_ms", "breaker_closed_after_recovery_ms"),
    *("recovery_to_first_login_ms", "latency_normal_after_recovery_ms"),
)


async def big_drill(users: int, duration: float, rate: float, think: float, out: Path) -> int:
    ensure_capacity(users)
    settings = DrillSettings(
        users=users,
        duration_s=duration,
        rate=rate,
        think_time_s=think,
        concurrency=100,
        request_timeout_s=15,
    )
    report = await run_drill("auth-outage", settings=settings, run_dir=out / "run")
    write_json(report, out / "report.json")
    write_html(report, out / "report.html")
    failure = report.first_failure
    verdict = "PASSED" if report.passed else "FAILED"
    print(f"\ndrill with {users} sessions: {verdict} in {report.wall_s:.1f} s")
    if failure is not None:
        print(f"  first failure: {failure.name}\n  {report.describe_failures()}")
    m = report.measurements
    down = {"persist", "new_logins", "breaker", "restore"}
    stats = report.details["statistics"]
    outage = [g for g in stats if g["population"] == "existing" and g["phase"] in down]
    ops = sum(g["count"] for g in outage)
    failed = sum(g["failed"] for g in outage)
    print(f"  existing-session operations with auth down or restarting: {ops}, failed {failed}")
    for name in REPORTED:
        value = m.get(name)
        print(f"  {name:36} {'-' if value is None else f'{value:.1f}'}")
    load = report.details.get("load") or {}
    print(f"  load: {load}; operations recorded: {report.details['operations']}")
    print(f"  reports: {out / 'report.json'}, {out / 'report.html'}")
    return 0 if report.passed else 1


async def main(ns: argparse.Namespace) -> int:
    micros, size = recording_cost()
    print(f"recording: {micros:.2f} us and ~{size:.0f} bytes per operation")
    ops, cpu_us = await driver_ceiling(ns.ceiling_seconds, ns.ceiling_sessions)
    print(
        f"driver ceiling: {ops:.0f} ops/s with {ns.ceiling_sessions} sessions, no think time "
        f"({cpu_us:.0f} us of driver CPU per operation; server on the same 2 cores)"
    )
    out = Path(ns.out)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    return await big_drill(ns.users, ns.duration, ns.rate, ns.think, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--think", type=float, default=5.0, help="mean think time per session (s)")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    parser.add_argument("--ceiling-sessions", type=int, default=64)
    parser.add_argument("--out", default=".authdrill/bench-load")
    sys.exit(asyncio.run(main(parser.parse_args())))
