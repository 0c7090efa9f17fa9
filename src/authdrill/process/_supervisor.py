"""The supervisor: every service of a run, and no orphans whatever happens.

Use it as an async context manager. On entry it reaps the leftovers of crashed earlier
runs and opens this run's record; on exit (normal, exception, Ctrl-C/cancellation) it
stops every service in reverse start order and deletes the record. If the runner is
SIGKILLed instead, the kernel kills the services (parent-death signal, Linux) and the
next supervisor reaps anything else.

The window helpers restore state in ``finally``: a service stopped, killed or frozen
for the body of an ``async with`` is back (restarted on the same port, or thawed) even
when the body raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from authdrill.errors import ServiceError
from authdrill.process._reaper import RunRecord, default_state_dir, reap_stale_runs
from authdrill.process._service import KillReport, ManagedService, ServiceSpec, StartReport

__all__ = ["Supervisor"]

log = logging.getLogger("authdrill.supervisor")


class Supervisor:
    """Starts, watches and always stops the services of one run.

    Args:
        run_dir: where ``logs/<service>.log`` go.
        state_dir: where run records live (default: :func:`default_state_dir`).
    """

    def __init__(self, run_dir: Path, *, state_dir: Path | None = None) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self._state_dir = state_dir or default_state_dir()
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        self._record: RunRecord | None = None
        self._services: dict[str, ManagedService] = {}
        self._order: list[str] = []
        self.reaped: list[str] = []

    async def __aenter__(self) -> Self:
        self.reaped = await asyncio.to_thread(reap_stale_runs, self._state_dir)
        self._record = RunRecord(self._state_dir, self.run_id)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_all()
        if self._record is not None:
            self._record.close()

    # ------------------------------------------------------------------ services
    def __getitem__(self, name: str) -> ManagedService:
        try:
            return self._services[name]
        except KeyError:
            raise ServiceError(name, "is not a service of this run") from None

    def __contains__(self, name: object) -> bool:
        return name in self._services

    @property
    def services(self) -> tuple[ManagedService, ...]:
        """Services in the order they were first started."""
        return tuple(self._services[name] for name in self._order)

    async def start(self, spec: ServiceSpec) -> StartReport:
        """Start ``spec`` and wait for it to be ready (see :meth:`ManagedService.start`)."""
        if self._record is None:
            raise RuntimeError("use the Supervisor as 'async with Supervisor(...)'")
        if spec.name in self._services and self._services[spec.name].running:
            raise ServiceError(spec.name, "is already running")
        service = ManagedService(spec, log_dir=self.log_dir, record=self._record)
        if spec.name not in self._services:
            self._order.append(spec.name)
        self._services[spec.name] = service
        report = await service.start()
        log.info(
            "%s ready in %.0f ms (pid %d, %s)",
            spec.name,
            report.ready_s * 1000,
            report.pid,
            spec.url,
        )
        return report

    async def start_all(self, specs: Iterable[ServiceSpec]) -> dict[str, StartReport]:
        """Start ``specs`` one after another, in the order given (dependencies first)."""
        return {spec.name: await self.start(spec) for spec in specs}

    async def stop_all(self) -> None:
        """Stop every running service, last started first; never raises for one failure."""
        for name in reversed(self._order):
            service = self._services[name]
            if service.running:
                try:
                    await service.stop()
                except (OSError, ServiceError):
                    log.exception("could not stop %s cleanly", name)

    # ------------------------------------------------------------------ windows
    @contextlib.asynccontextmanager
    async def stopped(self, name: str) -> AsyncIterator[int | None]:
        """Stop ``name`` gracefully for the body; restart it afterwards, always."""
        service = self[name]
        code = await service.stop()
        try:
            yield code
        finally:
            await service.start()

    @contextlib.asynccontextmanager
    async def killed(self, name: str) -> AsyncIterator[KillReport]:
        """SIGKILL ``name``'s process tree for the body; restart it afterwards, always."""
        service = self[name]
        report = await service.kill()
        try:
            yield report
        finally:
            await service.start()

    @contextlib.asynccontextmanager
    async def frozen(self, name: str) -> AsyncIterator[ManagedService]:
        """SIGSTOP ``name`` for the body; SIGCONT afterwards, always."""
        service = self[name]
        service.freeze()
        try:
            yield service
        finally:
            if service.running and service.frozen:
                service.thaw()
