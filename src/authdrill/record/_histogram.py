"""A latency histogram with bounded relative error (pure).

Values fall into logarithmic buckets ``[b·g^i, b·g^(i+1))`` with growth ``g = 1 + 2ε``,
so any percentile is reported within a relative error ε (default 1 %) of a value that
was really recorded — and is clamped to the recorded minimum and maximum, so p99 can
never exceed the max (the rounding artefact seen in some load tools); the first and
last ranks are the recorded min and max exactly. Memory is a few
hundred integers whatever the number of samples; histograms merge by adding counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

__all__ = ["Histogram"]


class Histogram:
    """Counts of non-negative values (seconds) in logarithmic buckets."""

    __slots__ = (
        "_base",
        "_counts",
        "_log_growth",
        "count",
        "max",
        "min",
        "relative_error",
        "total",
    )

    def __init__(self, *, relative_error: float = 0.01, base: float = 1e-6) -> None:
        if not 0 < relative_error < 0.5:  # noqa: PLR2004
            raise ValueError("relative_error must be in (0, 0.5)")
        self.relative_error = relative_error
        self._base = base
        self._log_growth = math.log1p(2 * relative_error)
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def _index(self, value: float) -> int:
        if value <= self._base:
            return -1  # everything at or below the base shares one bucket
        return int(math.log(value / self._base) / self._log_growth)

    def _representative(self, index: int) -> float:
        if index < 0:
            return self._base
        low = self._base * math.exp(index * self._log_growth)
        high = low * math.exp(self._log_growth)
        return (low + high) / 2  # within relative_error of every value in the bucket

    def add(self, value: float) -> None:
        """Record one value (negative values are recorded as 0)."""
        value = max(0.0, value)
        index = self._index(value)
        self._counts[index] = self._counts.get(index, 0) + 1
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def extend(self, values: Iterable[float]) -> None:
        """Record many values."""
        for value in values:
            self.add(value)

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts to this one (same relative error and base)."""
        if other.relative_error != self.relative_error or other._base != self._base:
            raise ValueError("cannot merge histograms of different resolution")
        for index, n in other._counts.items():
            self._counts[index] = self._counts.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> float | None:
        """The nearest-rank ``p``-th percentile (0 < p <= 100), or ``None`` when empty."""
        if not 0 < p <= 100:  # noqa: PLR2004
            raise ValueError("p must be in (0, 100]")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(Fraction(str(p)) * self.count / 100))  # exact: no float ulp
        if rank == self.count:
            return self.max  # p100 (and any p reaching the last value) is the max, exactly
        if rank == 1:
            return self.min
        seen = 0
        for index in sorted(self._counts):
            seen += self._counts[index]
            if seen >= rank:
                return min(self.max, max(self.min, self._representative(index)))
        return self.max  # pragma: no cover - the loop always reaches the rank

    @property
    def mean(self) -> float | None:
        """The exact mean, or ``None`` when empty."""
        return self.total / self.count if self.count else None
