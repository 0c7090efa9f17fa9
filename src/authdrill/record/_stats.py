"""Statistics of recorded operations (pure): per group, and over time.

* :func:`summarize` groups by (phase, population, operation) and gives count, success
  rate, p50/p95/p99/max latency (from a :class:`Histogram`: within 1 %, never above
  the max) and errors by kind.
* :func:`timeline` buckets by start time (default 1 s) per operation: throughput,
  errors and latency percentiles, for plots and for "when was latency normal again".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from authdrill.record._histogram import Histogram
from authdrill.record._recorder import Columns

__all__ = ["Bucket", "GroupStats", "summarize", "timeline"]


@dataclass(slots=True)
class GroupStats:
    """Statistics of one group of operations (latencies in milliseconds)."""

    phase: str
    population: str
    op: str
    count: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    histogram: Histogram = field(default_factory=Histogram)

    @property
    def failed(self) -> int:
        return self.count - self.ok

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.count if self.count else None

    def percentile_ms(self, p: float) -> float | None:
        value = self.histogram.percentile(p)
        return None if value is None else value * 1000

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of one group (see the README's report section)."""

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "phase": self.phase,
            "population": self.population,
            "op": self.op,
            "count": self.count,
            "ok": self.ok,
            "failed": self.failed,
            "success_rate": self.success_rate,
            "p50_ms": ms(self.percentile_ms(50)),
            "p95_ms": ms(self.percentile_ms(95)),
            "p99_ms": ms(self.percentile_ms(99)),
            "max_ms": ms(self.histogram.max * 1000 if self.count else None),
            "errors": dict(sorted(self.errors.items())),
        }


def _error_label(columns: Columns, i: int) -> str:
    kind = columns.names[columns.error[i]]
    status = columns.status[i]
    return f"{kind} {status}" if status else kind


def summarize(columns: Columns, *, phases: Iterable[str] | None = None) -> list[GroupStats]:
    """Statistics per (phase, population, op), in first-seen order; optionally only ``phases``."""
    wanted = None if phases is None else set(phases)
    groups: dict[tuple[int, int, int], GroupStats] = {}
    names = columns.names
    for i in range(len(columns.start)):
        key = (columns.phase[i], columns.population[i], columns.op[i])
        group = groups.get(key)
        if group is None:
            if wanted is not None and names[key[0]] not in wanted:
                continue
            group = groups[key] = GroupStats(names[key[0]], names[key[1]], names[key[2]])
        group.count += 1
        group.histogram.add(columns.latency[i])
        if columns.ok[i]:
            group.ok += 1
        else:
            label = _error_label(columns, i)
            group.errors[label] = group.errors.get(label, 0) + 1
    return list(groups.values())


@dataclass(slots=True)
class Bucket:
    """One time bucket of one operation (start in seconds since the recorder origin)."""

    start: float
    op: str
    count: int = 0
    failed: int = 0
    histogram: Histogram = field(default_factory=Histogram)

    def as_json(self) -> dict[str, Any]:
        def ms(p: float) -> float | None:
            value = self.histogram.percentile(p)
            return None if value is None else round(value * 1000, 3)

        return {
            "t": round(self.start, 3),
            "op": self.op,
            "count": self.count,
            "failed": self.failed,
            "p50_ms": ms(50),
            "p95_ms": ms(95),
            "p99_ms": ms(99),
        }


def timeline(columns: Columns, *, bucket_s: float = 1.0) -> list[Bucket]:
    """Per-operation buckets of ``bucket_s`` by start time, ordered by time then op."""
    if bucket_s <= 0:
        raise ValueError("bucket_s must be > 0")
    buckets: dict[tuple[int, int], Bucket] = {}
    for i in range(len(columns.start)):
        index = int(columns.start[i] // bucket_s)
        key = (index, columns.op[i])
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Bucket(index * bucket_s, columns.names[columns.op[i]])
        bucket.count += 1
        bucket.failed += not columns.ok[i]
        bucket.histogram.add(columns.latency[i])
    return [buckets[key] for key in sorted(buckets, key=lambda k: (k[0], columns.names[k[1]]))]
