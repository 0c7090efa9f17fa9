"""A drill's definition: its phases, its cleanup, and the measurements it reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from authdrill.drill._engine import PhaseSpec
from authdrill.drill._env import DrillEnv

__all__ = ["DrillDefinition"]


@dataclass(frozen=True, slots=True)
class DrillDefinition:
    """A named sequence of phases over a :class:`DrillEnv`, with a cleanup that always runs."""

    name: str
    title: str
    phases: tuple[PhaseSpec[DrillEnv], ...]
    cleanup: Callable[[DrillEnv], Awaitable[None]]
    measurements: tuple[str, ...]
