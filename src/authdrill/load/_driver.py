"""The load driver: many concurrent sessions (closed model) and arrivals (open model).

* **closed model**: each existing session loops — one round (its calls and a WebSocket
  round trip), then think time (uniform between 0.5 and 1.5 times ``think_time_s``) —
  until stopped.
* **open model**: new logins arrive at ``rate`` per second on a fixed schedule, whatever
  the system's speed (so a slow system meets growing demand, as in reality). At most
  ``max_in_flight`` arrivals run at once; the rest are counted as ``dropped`` (the
  driver, not the system, could not keep up) rather than queued without bound.

The driver only schedules: what a round or an arrival does (and records) is given to it.
It stops by itself after ``max_duration_s`` even if nobody stops it. A round that
raises ends that session's loop; the error is kept in :attr:`LoadDriver.crashes` for
the caller to report (a failed operation should be recorded by the round, not raised).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TypeVar

from authdrill.errors import ConfigError

__all__ = ["LoadDriver", "LoadProfile"]

S = TypeVar("S")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadProfile:
    """How hard to push.

    Attributes:
        think_time_s: mean pause between a session's rounds.
        rate: new logins per second (0: none).
        max_in_flight: arrivals running at once before further ones are dropped.
        max_duration_s: the driver stops by itself after this long.
    """

    think_time_s: float = 1.0
    rate: float = 0.0
    max_in_flight: int = 256
    max_duration_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("think_time_s", "rate", "max_duration_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(name, f"{value!r} must be a finite number >= 0")
        if self.max_in_flight < 1 or self.max_duration_s == 0:
            raise ConfigError("max_in_flight/max_duration_s", "must be > 0")


class LoadDriver(Generic[S]):
    """Runs rounds for every session and arrivals at a rate, in the background.

    Use as ``async with LoadDriver(...) as driver:``; leaving stops everything and waits
    for in-flight work to be cancelled.
    """

    def __init__(
        self,
        *,
        sessions: Sequence[S],
        session_round: Callable[[S], Awaitable[object]],
        arrival: Callable[[int], Awaitable[object]] | None,
        profile: LoadProfile,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._round = session_round
        self._arrival = arrival
        self.profile = profile
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[object]] = set()
        self.rounds = 0
        self.arrivals = 0
        self.dropped = 0
        self.crashes: list[str] = []

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Begin the rounds and the arrivals."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._session_loop(s, i)) for i, s in enumerate(self._sessions)
        ]
        if self._arrival is not None and self.profile.rate > 0:
            self._tasks.append(asyncio.create_task(self._arrivals()))
        self._tasks.append(asyncio.create_task(self._deadline()))

    async def stop(self) -> None:
        """Cancel every loop and in-flight arrival, and wait for them."""
        tasks = [*self._tasks, *self._in_flight]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._in_flight.clear()

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    async def _deadline(self) -> None:
        await asyncio.sleep(self.profile.max_duration_s)  # the hard bound on the driver's life
        for task in [*self._tasks, *self._in_flight]:
            if task is not asyncio.current_task():
                task.cancel()

    def _think(self) -> float:
        return self.profile.think_time_s * self._rng.uniform(0.5, 1.5)

    async def _session_loop(self, session: S, index: int) -> None:
        # spread the first rounds over one think time so sessions do not march in step
        await asyncio.sleep(self.profile.think_time_s * index / max(1, len(self._sessions)))
        while True:
            try:
                await self._round(session)
            except Exception as exc:  # noqa: BLE001 - a crashed loop is recorded and reported, not hidden
                self.crashes.append(f"session {index}: {type(exc).__name__}: {exc}")
                return
            self.rounds += 1
            await asyncio.sleep(self._think())  # the session's think time

    async def _arrivals(self) -> None:
        assert self._arrival is not None
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.profile.rate
        due = loop.time()
        while True:
            if len(self._in_flight) >= self.profile.max_in_flight:
                self.dropped += 1
            else:
                task: asyncio.Task[object] = asyncio.ensure_future(self._arrival(self.arrivals))
                self.arrivals += 1
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))  # the arrival schedule
