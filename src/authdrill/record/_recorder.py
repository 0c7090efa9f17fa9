"""Every operation of a drill, recorded cheaply (columns of numbers, not objects).

Each record: monotonic start time (seconds since the drill began), latency, outcome,
status (HTTP status or WebSocket close code, 0 when none), operation, population and
phase. Operations, populations, phases and error kinds are interned to small integers;
a record costs a few dozen bytes and an append is a handful of list appends, so
recording does not distort what is measured. :meth:`Recorder.records` yields
:class:`OpRecord` objects for analysis.
"""

from __future__ import annotations

import contextlib
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from authdrill.errors import SessionError

__all__ = ["Columns", "OpRecord", "Recorder"]


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One recorded operation (times in seconds since the recorder's origin)."""

    op: str
    population: str
    phase: str
    start: float
    latency: float
    ok: bool
    status: int
    error: str


@dataclass(frozen=True, slots=True)
class Columns:
    """A recorder's columns; ``op``/``population``/``phase``/``error`` index ``names``."""

    names: tuple[str, ...]
    start: array[float]
    latency: array[float]
    status: array[int]
    ok: bytearray
    op: array[int]
    population: array[int]
    phase: array[int]
    error: array[int]


class _Interner:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}

    def id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self.names)
            self.names.append(name)
        return found


class Recorder:
    """Columnar storage of operations, with the current phase as context."""

    def __init__(self, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.origin = clock()
        self.phase = "setup"
        self.failures = 0
        self._strings = _Interner()
        self._start = array("d")
        self._latency = array("d")
        self._status = array("i")
        self._ok = bytearray()
        self._op = array("H")
        self._population = array("H")
        self._phase = array("H")
        self._error = array("H")

    def now(self) -> float:
        """Seconds since the recorder was created (same clock as records)."""
        return self._clock() - self.origin

    def __len__(self) -> int:
        return len(self._start)

    def add(
        self,
        op: str,
        population: str,
        *,
        start: float,
        latency: float,
        ok: bool,
        status: int = 0,
        error: str = "",
    ) -> None:
        """Record one operation that started at ``start`` (recorder seconds)."""
        intern = self._strings.id
        self._start.append(start)
        self._latency.append(latency)
        self._status.append(status)
        self._ok.append(ok)
        self.failures += not ok
        self._op.append(intern(op))
        self._population.append(intern(population))
        self._phase.append(intern(self.phase))
        self._error.append(intern(error))

    @contextlib.asynccontextmanager
    async def measure(self, op: str, population: str) -> AsyncIterator[_Measurement]:
        """Time the body; a :class:`SessionError` is recorded as a failure and re-raised.

        The body may set ``m.status`` for a success (e.g. the HTTP status seen).
        """
        measurement = _Measurement()
        start = self.now()
        try:
            yield measurement
        except SessionError as exc:
            self.add(
                op,
                population,
                start=start,
                latency=self.now() - start,
                ok=False,
                status=exc.status or 0,
                error=exc.kind,
            )
            raise
        self.add(
            op,
            population,
            start=start,
            latency=self.now() - start,
            ok=True,
            status=measurement.status,
        )

    def columns(self) -> Columns:
        """The raw columns (no copies) and the names their small integers stand for."""
        return Columns(
            names=tuple(self._strings.names),
            start=self._start,
            latency=self._latency,
            status=self._status,
            ok=self._ok,
            op=self._op,
            population=self._population,
            phase=self._phase,
            error=self._error,
        )

    def records(
        self, *, op: str | None = None, population: str | None = None, phase: str | None = None
    ) -> Iterator[OpRecord]:
        """Recorded operations matching every given filter, in recording order."""
        names = self._strings.names
        for i in range(len(self._start)):
            record = OpRecord(
                op=names[self._op[i]],
                population=names[self._population[i]],
                phase=names[self._phase[i]],
                start=self._start[i],
                latency=self._latency[i],
                ok=bool(self._ok[i]),
                status=self._status[i],
                error=names[self._error[i]],
            )
            if (
                (op is None or record.op == op)
                and (population is None or record.population == population)
                and (phase is None or record.phase == phase)
            ):
                yield record


class _Measurement:
    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 0
