"""Running a drill end to end: the one entry point for the CLI, pytest and Python.

``await run_drill("auth-outage")`` starts the target (the built-in reference stack by
default) under a :class:`~authdrill.process.Supervisor` in a fresh run directory, runs
the drill's phases, always cleans up, stops every process, and returns a
:class:`~authdrill.drill.DrillReport`. Service logs stay in ``<run_dir>/logs``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx

from authdrill.drill._auth_outage import AUTH_OUTAGE
from authdrill.drill._definition import DrillDefinition
from authdrill.drill._engine import NullProgress, Progress, run_phases
from authdrill.drill._env import DrillEnv
from authdrill.drill._isolation import ISOLATION
from authdrill.drill._model import DrillReport, PhaseResult
from authdrill.drill._settings import DrillSettings, Thresholds
from authdrill.errors import ConfigError
from authdrill.load import ensure_capacity
from authdrill.process import Supervisor
from authdrill.record import Recorder, summarize, timeline
from authdrill.session import new_http_session
from authdrill.target import Target, resolve_target

__all__ = ["DRILLS", "default_run_dir", "run_drill"]

DRILLS: Mapping[str, DrillDefinition] = {d.name: d for d in (AUTH_OUTAGE, ISOLATION)}


def default_run_dir(drill: str, *, base: Path = Path(".authdrill/runs")) -> Path:
    """``.authdrill/runs/<UTC timestamp>-<drill>`` (unique per second and drill)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = base / f"{stamp}-{drill}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = base / f"{stamp}-{drill}-{suffix}"
    return path


async def run_drill(
    drill: str = "auth-outage",
    *,
    target: Target | str | Path | None = None,
    settings: DrillSettings | None = None,
    thresholds: Thresholds | None = None,
    run_dir: Path | None = None,
    progress: Progress | None = None,
) -> DrillReport:
    """Run ``drill`` against ``target`` and report.

    Args:
        target: a :class:`Target`, a target file path, ``"builtin:<name>"``, or
            ``None`` for the built-in reference stack.
        run_dir: where logs and service data go (default: :func:`default_run_dir`).

    Raises:
        ConfigError: an unknown drill, or a bad target file (``TargetFileError``).
        ServiceStartError / PortInUseError: the target would not start (setup is
            reported as an errored phase instead when the drill got that far).
    """
    definition = DRILLS.get(drill)
    if definition is None:
        raise ConfigError("drill", f"unknown drill {drill!r} (drills: {', '.join(DRILLS)})")
    resolved = target if isinstance(target, Target) else resolve_target(target)
    settings = settings or DrillSettings()
    thresholds = thresholds or Thresholds()
    run_dir = run_dir or default_run_dir(drill)
    progress = progress or NullProgress()
    ensure_capacity(settings.users)  # before any child starts: they inherit the limit
    recorder = Recorder()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    clock_start = time.perf_counter()
    async with (
        Supervisor(run_dir) as supervisor,
        httpx.AsyncClient(trust_env=False) as http,  # the harness's own few calls
        new_http_session() as session_http,  # the users' traffic
    ):
        env = DrillEnv(
            target=resolved,
            supervisor=supervisor,
            http=http,
            recorder=recorder,
            settings=settings,
            thresholds=thresholds,
            progress=progress,
            run_dir=run_dir,
            session_http=session_http,
        )

        progress.watch(env.status_line)
        try:
            results = await run_phases(
                definition.phases,
                env,
                progress=progress,
                cleanup=definition.cleanup,
                on_phase=env.enter,
            )
        finally:
            progress.watch(None)
        logs = {service.name: str(service.log_path) for service in supervisor.services}
    return _report(
        definition, resolved, env, results, started_at, time.perf_counter() - clock_start, logs
    )


def _report(  # noqa: PLR0917 - a private assembly step; every argument is needed once
    definition: DrillDefinition,
    target: Target,
    env: DrillEnv,
    results: list[PhaseResult],
    started_at: str,
    wall_s: float,
    logs: dict[str, str],
) -> DrillReport:
    columns = env.recorder.columns()
    driver = env.driver
    return DrillReport(
        drill=definition.name,
        target=target.source,
        started_at=started_at,
        wall_s=wall_s,
        phases=tuple(results),
        measurements={name: env.measurements.get(name) for name in definition.measurements},
        settings={
            **dataclasses.asdict(env.settings),
            "thresholds": dataclasses.asdict(env.thresholds),
        },
        details={
            "run_dir": str(env.run_dir),
            "logs": logs,
            "operations": len(env.recorder),
            "outage": {
                "killed_at": env.facts.get("kill_at"),
                "auth_ready_at": env.facts.get("auth_ready_at"),
            },
            "phase_starts": env.facts.get("phase_starts", []),
            "breaker_timeline": []
            if env.sampler is None
            else [[round(t, 4), s] for t, s in env.sampler.timeline],
            "statistics": [group.as_json() for group in summarize(columns)],
            "timeline": [bucket.as_json() for bucket in timeline(columns, bucket_s=_bucket_s(env))],
            "load": None
            if driver is None
            else {
                "rounds": driver.rounds,
                "arrivals": driver.arrivals,
                "dropped_arrivals": driver.dropped,
            },
            "metrics": [] if env.scraper is None else env.scraper.scrapes,
        },
    )


def _bucket_s(env: DrillEnv) -> float:
    """Timeline resolution: 1 s under load, 0.1 s for a discrete (few-second) drill."""
    return 1.0 if env.settings.load_mode else 0.1
