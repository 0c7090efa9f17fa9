"""What a drill produces: checks, phase results, measurements, the report (pure records).

A :class:`Check` always says what was expected and what was observed, so a failure reads
on its own ("outage session success rate: expected >= 100%, observed 97.2% (175/180)").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Check", "DrillReport", "PhaseResult", "PhaseStatus"]

PhaseStatus = Literal["passed", "failed", "error", "skipped"]


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: ``name`` held (``passed``) or not, with both sides spelled out."""

    name: str
    passed: bool
    expected: str
    observed: str

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape."""
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "observed": self.observed,
        }


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """How one phase went.

    Attributes:
        name: machine name (``persist``); ``title`` is for people.
        status: ``passed`` (every check held), ``failed`` (a check did not),
            ``error`` (the phase could not do its work: ``error`` says why), or
            ``skipped`` (an earlier phase made it pointless).
    """

    name: str
    title: str
    status: PhaseStatus
    duration_s: float
    checks: tuple[Check, ...] = ()
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape."""
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "passed": self.passed,
            "duration_s": round(self.duration_s, 4),
            "error": self.error,
            "checks": [c.as_json() for c in self.checks],
        }


@dataclass(frozen=True, slots=True)
class DrillReport:
    """Everything a drill run established.

    Attributes:
        measurements: named numbers (milliseconds, ratios, counts); ``None`` when a
            phase that would have measured it did not get that far.
        details: further machine-readable material (timelines, statistics).
    """

    drill: str
    target: str
    started_at: str
    wall_s: float
    phases: tuple[PhaseResult, ...]
    measurements: Mapping[str, float | None]
    settings: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every phase ran and every check held."""
        return bool(self.phases) and all(p.passed for p in self.phases)

    @property
    def first_failure(self) -> PhaseResult | None:
        """The first phase that failed or errored, if any."""
        return next((p for p in self.phases if p.status in {"failed", "error"}), None)

    def describe_failures(self) -> str:
        """Every failed check and phase error, one per line ("" when the drill passed)."""
        lines = []
        for phase in self.phases:
            if phase.status == "error":
                lines.append(f"{phase.name}: error: {phase.error}")
            lines.extend(
                f"{phase.name}: {c.name}: expected {c.expected}, observed {c.observed}"
                for c in phase.checks
                if not c.passed
            )
        return "\n".join(lines)

    def phase(self, name: str) -> PhaseResult:
        """The result of phase ``name`` (KeyError if the drill has none)."""
        for result in self.phases:
            if result.name == name:
                return result
        raise KeyError(name)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON report (see the README's "JSON report" section)."""
        failure = self.first_failure
        return {
            **dict(self.details),  # first: the documented fields below always win
            "drill": self.drill,
            "target": self.target,
            "passed": self.passed,
            "first_failed_phase": None if failure is None else failure.name,
            "started_at": self.started_at,
            "wall_s": round(self.wall_s, 3),
            "settings": dict(self.settings),
            "phases": [p.as_json() for p in self.phases],
            "measurements": dict(self.measurements),
        }
