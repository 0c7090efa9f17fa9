"""Running phases: each one's checks, errors and duration; cleanup that always runs.

A phase is an async function returning its checks. It *fails* when a check does not
hold and *errors* when it cannot do its work (it raised an
:class:`~authdrill.errors.AuthdrillError`); an error, or a failure of a phase marked
``critical``, skips the phases after it — but the cleanup (rollback) always runs, also
when the drill is cancelled or a bug raises something unexpected.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from authdrill.drill._model import Check, PhaseResult, PhaseStatus
from authdrill.errors import AuthdrillError

__all__ = ["NullProgress", "PhaseSpec", "Progress", "run_phases"]

E = TypeVar("E")


class Progress(Protocol):
    """Receives live progress (a terminal display, a log, or nothing)."""

    def phase_started(self, name: str, title: str) -> None:
        """A phase begins."""

    def phase_finished(self, result: PhaseResult) -> None:
        """A phase ended (any status)."""

    def note(self, message: str) -> None:
        """Something worth telling while a phase runs."""

    def watch(self, status: Callable[[], str] | None) -> None:
        """Show ``status()`` (a one-line live status) until called with ``None``."""


class NullProgress:
    """Progress that goes nowhere."""

    def phase_started(self, name: str, title: str) -> None:
        del name, title

    def phase_finished(self, result: PhaseResult) -> None:
        del result

    def note(self, message: str) -> None:
        del message

    def watch(self, status: Callable[[], str] | None) -> None:
        del status


@dataclass(frozen=True, slots=True)
class PhaseSpec(Generic[E]):
    """One phase: a name, a title for people, and what it does with the environment."""

    name: str
    title: str
    run: Callable[[E], Awaitable[Sequence[Check]]]
    critical: bool = False


async def run_phases(
    phases: Sequence[PhaseSpec[E]],
    env: E,
    *,
    progress: Progress,
    cleanup: Callable[[E], Awaitable[None]],
    on_phase: Callable[[str], None] = lambda _name: None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[PhaseResult]:
    """Run ``phases`` in order against ``env``; ``cleanup(env)`` runs whatever happens."""
    results: list[PhaseResult] = []
    stopped_by: str | None = None
    try:
        for spec in phases:
            if stopped_by is not None:
                results.append(
                    PhaseResult(
                        spec.name, spec.title, "skipped", 0.0, error=f"{stopped_by} did not pass"
                    )
                )
                continue
            on_phase(spec.name)
            progress.phase_started(spec.name, spec.title)
            started = clock()
            try:
                checks = tuple(await spec.run(env))
            except AuthdrillError as exc:
                result = PhaseResult(
                    spec.name, spec.title, "error", clock() - started, error=str(exc)
                )
            else:
                status: PhaseStatus = "passed" if all(c.passed for c in checks) else "failed"
                result = PhaseResult(spec.name, spec.title, status, clock() - started, checks)
            results.append(result)
            progress.phase_finished(result)
            if result.status == "error" or (result.status == "failed" and spec.critical):
                stopped_by = spec.name
    finally:
        await cleanup(env)
    return results
