"""Drills: phases, checks and verdicts over real processes; the auth-outage drill."""

from authdrill.drill._checks import at_least, at_most, fraction_at_least, holds, is_equal
from authdrill.drill._definition import DrillDefinition
from authdrill.drill._engine import NullProgress, PhaseSpec, Progress, run_phases
from authdrill.drill._env import BreakerSampler, DrillEnv
from authdrill.drill._judges import LoginAttempt
from authdrill.drill._model import Check, DrillReport, PhaseResult, PhaseStatus
from authdrill.drill._runner import DRILLS, default_run_dir, run_drill
from authdrill.drill._settings import DrillSettings, Thresholds, parse_overrides

__all__ = [
    "DRILLS",
    "BreakerSampler",
    "Check",
    "DrillDefinition",
    "DrillEnv",
    "DrillReport",
    "DrillSettings",
    "LoginAttempt",
    "NullProgress",
    "PhaseResult",
    "PhaseSpec",
    "PhaseStatus",
    "Progress",
    "Thresholds",
    "at_least",
    "at_most",
    "default_run_dir",
    "fraction_at_least",
    "holds",
    "is_equal",
    "parse_overrides",
    "run_drill",
    "run_phases",
]
