"""How big a drill is (settings) and what it must show (thresholds): pure, validated.

Every threshold has the DESIGN's default and can be changed from the CLI
(``--threshold min_outage_session_success=0.99``), a pytest fixture or Python.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from authdrill.errors import ConfigError

__all__ = ["DrillSettings", "Thresholds", "parse_overrides"]

_D = TypeVar("_D", "DrillSettings", "Thresholds")


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillSettings:
    """The size of a drill.

    Attributes:
        users: sessions opened before the fault (each: login, WebSocket, calls).
        persist_rounds: rounds of calls + round trips each session makes in the outage.
        outage_logins: login attempts through the backend while auth is down.
        concurrency: most sessions doing something at once.
        request_timeout_s: a request without an answer by then is a ``timeout``.
        sample_interval_s: how often the backend's health (breaker state) is sampled.
        duration_s: 0 runs the drill in discrete rounds; more keeps every session busy
            (closed model) for about this long: 25 % baseline, 45 % outage, 30 %
            recovery.
        think_time_s: in load mode, each session's mean pause between rounds.
        rate: in load mode, new logins per second arriving through the backend.
        metrics_interval_s: how often the services' /metrics are scraped (0: never).
    """

    users: int = 3
    persist_rounds: int = 3
    outage_logins: int = 20
    concurrency: int = 64
    request_timeout_s: float = 5.0
    sample_interval_s: float = 0.025
    duration_s: float = 0.0
    think_time_s: float = 1.0
    rate: float = 0.0
    metrics_interval_s: float = 1.0

    def __post_init__(self) -> None:
        _check_positive(self, ("users", "persist_rounds", "outage_logins", "concurrency"))
        _check_positive(self, ("request_timeout_s", "sample_interval_s"))
        for name in ("duration_s", "think_time_s", "rate", "metrics_interval_s"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(name, f"{value!r} must be a number >= 0")

    @property
    def load_mode(self) -> bool:
        """Whether sessions run continuously (``duration_s > 0``)."""
        return self.duration_s > 0

    @property
    def baseline_s(self) -> float:
        return self.duration_s * 0.25

    @property
    def outage_s(self) -> float:
        return self.duration_s * 0.45

    @property
    def recovery_s(self) -> float:
        return self.duration_s * 0.30


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """What each phase must show (DESIGN defaults).

    Attributes:
        min_sessions_established: fraction of users whose session opens (phase 2).
        min_outage_session_success: fraction of existing-session operations that
            succeed while auth is down (phase 4; the seed accepted 0.8).
        max_websocket_disconnects: WebSockets allowed to drop during the whole drill.
        max_login_latency_ms: slowest acceptable refused login in the outage (phase 5).
        login_refusal_status: the status a refused login must have.
        breaker_open_within_s: the breaker must report open this soon after the kill.
        max_rejection_p99_ms: p99 of login refusals once the breaker is open (phase 6).
        max_open_call_slowdown: unauthenticated calls' p50 in the outage may be at
            most this many times their baseline p50 (plus ``open_call_slack_ms``).
        breaker_close_within_s: after auth is ready again, the breaker must close by
            itself within this (phase 8).
        recovery_login_within_s: after auth is ready again, a login through the
            backend must succeed within this (phase 8).
        min_recovered_session_success: fraction of old sessions' operations that
            succeed after recovery (phase 8).
        latency_margin: in load mode, latency is "back to normal" once a window's p95
            is within this fraction above the baseline p95 (0.5: +50 %) ...
        latency_slack_ms: ... or within this many milliseconds of it, if that is more
            (differences of a few milliseconds are noise on a busy machine).
        min_new_login_success_after_recovery: in load mode, fraction of logins that
            arrive after the breaker closed and must succeed.
        min_integrity: fraction of acknowledged writes that must be readable afterwards.
    """

    min_sessions_established: float = 1.0
    min_outage_session_success: float = 1.0
    max_websocket_disconnects: int = 0
    max_login_latency_ms: float = 1000.0
    login_refusal_status: int = 503
    breaker_open_within_s: float = 5.0
    max_rejection_p99_ms: float = 100.0
    max_open_call_slowdown: float = 3.0
    open_call_slack_ms: float = 5.0
    breaker_close_within_s: float = 15.0
    recovery_login_within_s: float = 15.0
    min_recovered_session_success: float = 1.0
    latency_margin: float = 0.5
    latency_slack_ms: float = 10.0
    min_new_login_success_after_recovery: float = 1.0
    min_integrity: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "min_sessions_established",
            "min_outage_session_success",
            "min_recovered_session_success",
            "min_new_login_success_after_recovery",
            "min_integrity",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(name, f"{value} is not a fraction in [0, 1]")
        _check_positive(
            self,
            (
                "max_login_latency_ms",
                "breaker_open_within_s",
                "max_rejection_p99_ms",
                "max_open_call_slowdown",
                "breaker_close_within_s",
                "recovery_login_within_s",
                "latency_margin",
            ),
        )
        if self.max_websocket_disconnects < 0 or self.open_call_slack_ms < 0:
            raise ConfigError("max_websocket_disconnects/open_call_slack_ms", "must be >= 0")


def _check_positive(obj: object, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(obj, name)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigError(name, f"{value!r} must be a number > 0")


def parse_overrides(base: _D, pairs: Iterable[str], *, what: str) -> _D:
    """``base`` with ``name=value`` overrides applied (values converted to the field's type).

    Raises:
        ConfigError: an unknown name (listing the known ones) or a bad value.
    """
    fields = {f.name: f for f in dataclasses.fields(base)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            raise ConfigError(
                f"--{what} {pair}",
                f"expected NAME=VALUE with NAME one of {', '.join(sorted(fields))}",
            )
        current = getattr(base, name)
        try:
            changes[name] = type(current)(raw.strip())
        except ValueError:
            raise ConfigError(
                f"--{what} {name}", f"{raw!r} is not a {type(current).__name__}"
            ) from None
    return dataclasses.replace(base, **changes)
