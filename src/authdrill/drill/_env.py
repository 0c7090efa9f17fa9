"""What a running drill holds: the target's processes, its users, what was recorded.

The phases of every drill share this environment. It also offers the I/O steps that
drills have in common: start the target, open sessions, make a round of session
operations (each recorded), and sample the backend's breaker state in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from authdrill.drill._engine import Progress
from authdrill.drill._judges import LoginAttempt
from authdrill.drill._scraper import MetricsScraper
from authdrill.drill._settings import DrillSettings, Thresholds
from authdrill.errors import LoginError, SessionError
from authdrill.load import LoadDriver, LoadProfile
from authdrill.process import ManagedService, ProbeContext, Supervisor, free_port
from authdrill.record import Recorder
from authdrill.session import SessionClient, dotted
from authdrill.target import (
    HealthDef,
    RequestDef,
    Target,
    allocate_ports,
    render_services,
    service_urls,
)

__all__ = ["BreakerSampler", "DrillEnv", "op_name"]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def op_name(request: RequestDef) -> str:
    """The operation type a call is recorded as: ``api_write`` or ``api_call``."""
    return "api_write" if request.method in WRITE_METHODS else "api_call"


class BreakerSampler:
    """Reads the backend's breaker state every ``interval_s`` and keeps its changes.

    ``timeline`` holds ``(seconds since the recorder's origin, state)`` for the first
    sample and every change; unreachable health reads are recorded as ``"unreachable"``.
    """

    def __init__(
        self,
        health: HealthDef,
        *,
        url: str,
        http: httpx.AsyncClient,
        recorder: Recorder,
        interval_s: float,
    ) -> None:
        self._health = health
        self._url = url + health.path
        self._http = http
        self._recorder = recorder
        self.interval_s = interval_s
        self.timeline: list[tuple[float, str]] = []
        self._changed = asyncio.Condition()
        self.samples = 0

    @property
    def state(self) -> str | None:
        """The last state read, if any."""
        return self.timeline[-1][1] if self.timeline else None

    async def _read(self) -> str:
        try:
            response = await self._http.get(self._url, timeout=max(1.0, self.interval_s * 4))
            value = dotted(response.json(), self._health.breaker)
        except (httpx.HTTPError, ValueError):
            return "unreachable"
        return str(value) if value is not None else "unknown"

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            state = await self._read()
            self.samples += 1
            if state != self.state:
                async with self._changed:
                    self.timeline.append((self._recorder.now(), state))
                    self._changed.notify_all()
            await asyncio.sleep(self.interval_s)  # the sampling period itself

    async def wait_for(self, state: str, *, after: float, timeout_s: float) -> float | None:
        """The first time (recorder seconds) at or after ``after`` the state was ``state``.

        Waits up to ``timeout_s`` for it; ``None`` if it did not happen.
        """

        def found() -> float | None:
            for index, (at, seen) in enumerate(self.timeline):
                next_at = self.timeline[index + 1][0] if index + 1 < len(self.timeline) else None
                if seen == state and (next_at is None or next_at >= after):
                    return max(at, after)
            return None

        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: found() is not None)
        except TimeoutError:
            return None
        return found()


@dataclass
class DrillEnv:
    """A drill in progress (I/O handles and what the phases learn).

    ``http`` (httpx) serves the harness's own few calls (health, keys, metrics);
    ``session_http`` (aiohttp) carries the users' traffic, which must scale.
    """

    target: Target
    supervisor: Supervisor
    http: httpx.AsyncClient
    recorder: Recorder
    settings: DrillSettings
    thresholds: Thresholds
    progress: Progress
    run_dir: Path
    session_http: aiohttp.ClientSession
    run_tag: str = field(default_factory=lambda: secrets.token_hex(3))
    urls: dict[str, str] = field(default_factory=dict)
    sessions: list[SessionClient] = field(default_factory=list)
    measurements: dict[str, float | None] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    sampler: BreakerSampler | None = None
    scraper: MetricsScraper | None = None
    driver: LoadDriver[SessionClient] | None = None
    arrivals: list[tuple[str, LoginAttempt]] = field(default_factory=list)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def auth(self) -> ManagedService:
        return self.supervisor[self.target.auth]

    @property
    def backend(self) -> ManagedService:
        return self.supervisor[self.target.backend]

    # ------------------------------------------------------------------ target
    async def start_target(self) -> list[tuple[str, float]]:
        """Start every service in dependency order; ``(name, ready_s)`` each."""
        ports = allocate_ports(self.target, free_port)
        self.urls = service_urls(self.target, ports)
        specs = render_services(
            self.target,
            run_dir=self.run_dir,
            ports=ports,
            python=sys.executable,
            environ=os.environ,
        )
        for name in self.target.services:  # what {data_dir} points at exists before start
            (self.run_dir / "data" / name).mkdir(parents=True, exist_ok=True)
        started = []
        for spec in specs:
            self.progress.note(f"starting {spec.name} on {spec.url or 'no port'}")
            report = await self.supervisor.start(spec)
            started.append((spec.name, report.ready_s))
        return started

    async def service_ready(self, service: ManagedService) -> bool:
        """Whether ``service``'s own readiness probe passes right now."""
        spec = service.spec
        return await spec.ready.check(ProbeContext(spec.host, spec.port, service.log_path)) is None

    def start_observers(self) -> None:
        """Begin sampling the breaker state and scraping metrics (what the target offers)."""
        if self._background:
            return
        health = self.target.health
        if health is not None:
            self.sampler = BreakerSampler(
                health,
                url=self.urls[health.service],
                http=self.http,
                recorder=self.recorder,
                interval_s=self.settings.sample_interval_s,
            )
            self._background.append(asyncio.create_task(self.sampler.run()))
        endpoints = {
            name: self.urls[name] + service.metrics
            for name, service in self.target.services.items()
            if service.metrics is not None and name in self.urls
        }
        if endpoints and self.settings.metrics_interval_s > 0:
            self.scraper = MetricsScraper(
                endpoints,
                http=self.http,
                recorder=self.recorder,
                interval_s=self.settings.metrics_interval_s,
            )
            self._background.append(asyncio.create_task(self.scraper.run()))

    async def stop_observers(self) -> None:
        """Stop sampling and scraping (idempotent)."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()

    def status_line(self) -> str:
        """One line of live status: window, operations, their rate, failures, breaker."""
        now = self.recorder.now()
        done = len(self.recorder)
        last_t, last_n = self.facts.get("status_last", (0.0, 0))
        rate = (done - last_n) / (now - last_t) if now > last_t else 0.0
        self.facts["status_last"] = (now, done)
        breaker = self.sampler.state if self.sampler is not None else None
        parts = [
            f"{self.recorder.phase}",
            f"{done} ops",
            f"{rate:.0f} ops/s",
            f"{self.recorder.failures} failed",
        ]
        if self.sessions:
            parts.append(f"{self.open_websockets()}/{len(self.sessions)} sockets")
        if breaker:
            parts.append(f"breaker {breaker}")
        return " · ".join(parts)

    def enter(self, label: str) -> None:
        """Stamp later records with ``label`` and remember when that window began."""
        self.recorder.phase = label
        self.facts.setdefault("phase_starts", []).append([label, round(self.recorder.now(), 4)])

    # ------------------------------------------------------------------ load
    async def hold(self, seconds: float, what: str) -> None:
        """Let the load run for ``seconds`` (a duration under test, not a settle)."""
        if seconds > 0:
            self.progress.note(f"{what} for {seconds:.1f} s under load")
            await asyncio.sleep(seconds)

    async def _arrive(self, index: int) -> None:
        client = self.new_client(index % max(1, self.settings.users))
        attempt = await self.attempt_login(client, "new")
        self.arrivals.append((self.recorder.phase, attempt))

    def start_load(self) -> None:
        """Keep every session busy and let new logins arrive (load mode only)."""
        if not self.settings.load_mode or self.driver is not None:
            return
        self.driver = LoadDriver(
            sessions=self.sessions,
            session_round=lambda client: self.session_round(client, "existing"),
            arrival=self._arrive,
            profile=LoadProfile(
                think_time_s=self.settings.think_time_s,
                rate=self.settings.rate,
                max_duration_s=self.settings.duration_s * 4 + 120,
            ),
        )
        self.driver.start()

    async def stop_load(self) -> None:
        """Stop the load (idempotent)."""
        if self.driver is not None:
            await self.driver.stop()

    async def attempt_login(self, client: SessionClient, population: str) -> LoginAttempt:
        """One login through the backend, recorded, described as the client saw it."""
        started = time.perf_counter()
        try:
            async with self.recorder.measure("backend_login", population) as m:
                m.status = await client.login(via_backend=True)
        except LoginError as exc:
            return LoginAttempt(
                exc.status, exc.kind, time.perf_counter() - started, exc.retry_after, exc.json_error
            )
        except SessionError as exc:
            return LoginAttempt(
                None, exc.kind, time.perf_counter() - started, None, json_error=False
            )
        return LoginAttempt(m.status, "ok", time.perf_counter() - started, None, json_error=False)

    # ------------------------------------------------------------------ sessions
    def new_client(self, index: int) -> SessionClient:
        """A user of this run (``<prefix>-<run tag>-<index>``), not yet logged in."""
        prefix = self.target.session.username_prefix
        return SessionClient(
            self.target.session,
            self.urls,
            http=self.session_http,
            username=f"{prefix}-{self.run_tag}-{index}",
            timeout_s=self.settings.request_timeout_s,
        )

    async def gather_limited(self, jobs: Sequence[Any]) -> list[Any]:
        """Await coroutines with at most ``settings.concurrency`` running at once."""
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def run(job: Any) -> Any:
            async with limit:
                return await job

        return await asyncio.gather(*(run(job) for job in jobs))

    async def open_session(self, client: SessionClient, population: str) -> bool:
        """Register, log in at auth, open the WebSocket, make one round; all recorded."""
        try:
            async with self.recorder.measure("register", population) as m:
                m.status = await client.register()
            async with self.recorder.measure("login", population) as m:
                m.status = await client.login()
            if self.target.session.websocket is not None:
                async with self.recorder.measure("ws_connect", population):
                    await client.open_websocket()
        except SessionError:
            return False
        return await self.session_round(client, population)

    async def session_round(self, client: SessionClient, population: str) -> bool:
        """Every authenticated call once, then a WebSocket round trip; ``True`` if all held."""
        ok = True
        for request in self.target.session.calls:
            try:
                async with self.recorder.measure(op_name(request), population) as m:
                    m.status = await client.call(request)
            except SessionError:
                ok = False
        if self.target.session.websocket is not None:
            try:
                async with self.recorder.measure("ws_round_trip", population):
                    await client.ws_round_trip()
            except SessionError:
                ok = False
        return ok

    def open_websockets(self) -> int:
        """How many users' WebSockets are still open."""
        return sum(client.websocket_open for client in self.sessions)

    async def close_sessions(self) -> None:
        """Close every user's WebSocket (normal closure)."""
        for client in self.sessions:
            with contextlib.suppress(OSError, SessionError):
                await client.close()
