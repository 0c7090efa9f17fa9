"""When the backend's cached key set may be used, refreshed, or must be given up (pure).

The backend verifies tokens against a JWK set fetched from auth. This module decides,
from plain numbers, what to do with it:

* **fresh**: younger than ``refresh_interval_s``: use it, nothing to do.
* **stale**: older, but younger than ``max_staleness_s``: use it (stale-if-error) and
  try to refresh; a failed refresh keeps it.
* **too stale**: older than ``max_staleness_s``: verification answers 503 (the backend
  cannot tell good tokens from bad), never 401 (the token may well be good).
* **unknown kid**: at most one refresh per ``unknown_kid_cooldown_s``, whatever the
  number of requests or kids asking, so a flood of made-up kids costs one fetch.

Ages use wall-clock Unix time because a key set persisted to disk outlives the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authdrill.errors import ConfigError
from authdrill.stack.jose import VerificationKey

__all__ = ["KeySet", "KeySetPolicy", "may_refresh_for_unknown_kid", "next_refresh_in"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySetPolicy:
    """Refresh, staleness and cooldown bounds (seconds)."""

    refresh_interval_s: float = 300.0
    retry_interval_s: float = 5.0
    max_staleness_s: float = 86400.0
    unknown_kid_cooldown_s: float = 10.0

    def __post_init__(self) -> None:
        for name in (
            "refresh_interval_s",
            "retry_interval_s",
            "max_staleness_s",
            "unknown_kid_cooldown_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(name, "must be > 0")
        if self.max_staleness_s < self.refresh_interval_s:
            raise ConfigError("max_staleness_s", "must be at least refresh_interval_s")


@dataclass(frozen=True, slots=True)
class KeySet:
    """A key set and when it was last confirmed by auth.

    Attributes:
        keys: verification keys by kid.
        fetched_at: Unix time auth last served (or confirmed, 304) this set.
        source: ``"auth"`` (fetched in this process) or ``"disk"`` (last-known-good).
    """

    keys: Mapping[str, VerificationKey]
    fetched_at: float
    source: str

    def age(self, now: float) -> float:
        """Seconds since auth last confirmed this set (never negative)."""
        return max(0.0, now - self.fetched_at)

    def usable(self, policy: KeySetPolicy, now: float) -> bool:
        """Whether tokens may be verified against this set."""
        return bool(self.keys) and self.age(now) <= policy.max_staleness_s

    def refresh_due(self, policy: KeySetPolicy, now: float) -> bool:
        """Whether the set is old enough to refresh."""
        return self.age(now) >= policy.refresh_interval_s


def next_refresh_in(
    keyset: KeySet | None, policy: KeySetPolicy, *, now: float, last_attempt_failed: bool
) -> float:
    """Seconds until the background refresher should try again."""
    if keyset is None or last_attempt_failed:
        return policy.retry_interval_s
    return max(0.0, policy.refresh_interval_s - keyset.age(now))


def may_refresh_for_unknown_kid(
    last_refresh_started: float | None, policy: KeySetPolicy, *, now: float
) -> bool:
    """Whether an unknown kid may trigger a refresh now (monotonic seconds)."""
    return (
        last_refresh_started is None or now - last_refresh_started >= policy.unknown_kid_cooldown_s
    )
