"""How fast the 8-phase auth-outage drill runs, and what it measures, over several runs.

Runs the drill against the built-in reference stack ``--runs`` times (3 users each) and
prints the median and worst of each figure next to its target:

    wall time of the drill              <= 10 s
    auth restart -> ready               <= 1.5 s
    auth kill -> confirmed down         <= 100 ms
    login refusal p99, breaker open     <= 10 ms

    .venv/bin/python benchmarks/bench_drill.py [--runs 5] [--users 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from authdrill import DrillReport, DrillSettings, run_drill


def _measured(name: str) -> Callable[[DrillReport], float | None]:
    return lambda report: report.measurements[name]


# (label, how to read it from a report, target in ms or None, target as text)
FIGURES: tuple[tuple[str, Callable[[DrillReport], float | None], float | None, str], ...] = (
    ("drill wall time", lambda r: r.wall_s * 1000, 10_000, "<= 10 s"),
    ("auth restart -> ready", _measured("auth_restart_to_ready_ms"), 1500, "<= 1.5 s"),
    ("auth kill -> down", _measured("auth_kill_to_down_ms"), 100, "<= 100 ms"),
    ("login refusal p99 (breaker open)", _measured("rejection_p99_ms"), 10, "<= 10 ms"),
    ("new-login p99 during outage", _measured("outage_login_p99_ms"), None, ""),
    ("breaker open after kill", _measured("breaker_open_after_ms"), None, ""),
    ("breaker closed after restart", _measured("breaker_closed_after_recovery_ms"), None, ""),
    ("first login after restart", _measured("recovery_to_first_login_ms"), None, ""),
)


async def main(runs: int, users: int) -> None:
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(runs):
            settings = DrillSettings(users=users)
            run_dir = Path(tmp) / f"run-{index}"
            report = await run_drill("auth-outage", settings=settings, run_dir=run_dir)
            failure = report.first_failure
            verdict = "passed" if failure is None else f"FAILED at {failure.name}"
            print(f"run {index + 1}/{runs}: {verdict} in {report.wall_s:.2f} s")
            reports.append(report)
    print(f"\n{'figure':34} {'median':>10} {'worst':>10}   target")
    for label, read, target, target_text in FIGURES:
        values = [v for v in (read(r) for r in reports) if v is not None]
        if not values:
            print(f"{label:34} {'-':>10} {'-':>10}")
            continue
        median, worst = statistics.median(values), max(values)
        met = "" if target is None else ("  met" if median <= target else "  MISSED")
        print(f"{label:34} {median:8.1f}ms {worst:8.1f}ms   {target_text}{met}")
    print(f"\n{sum(r.passed for r in reports)}/{runs} runs passed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--users", type=int, default=3)
    ns = parser.parse_args()
    asyncio.run(main(ns.runs, ns.users))
