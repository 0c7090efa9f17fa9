"""The backend's Prometheus metrics, beyond the per-route HTTP ones."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

from authdrill.stack.backend.breaker import BreakerState, Transition
from authdrill.stack.metrics import new_registry

if TYPE_CHECKING:
    from authdrill.stack.backend.app import BackendService

__all__ = ["BackendMetrics"]

_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class BackendMetrics:
    """Counters fed by the backend's parts, and gauges read from them on scrape."""

    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.breaker_state = Gauge(
            "authdrill_breaker_state",
            "Breaker towards auth: 0 closed, 1 half-open, 2 open.",
            registry=r,
        )
        self.breaker_transitions = Counter(
            "authdrill_breaker_transitions",
            "Breaker transitions by source and target state.",
            ["from_state", "to_state"],
            registry=r,
        )
        self.rejected_tokens = Counter(
            "authdrill_rejected_tokens", "Tokens rejected, by reason.", ["reason"], registry=r
        )
        self.proxied = Counter(
            "authdrill_proxied_requests",
            "Login/refresh requests proxied to auth, by outcome.",
            ["route", "outcome"],
            registry=r,
        )
        self.keyset_age = Gauge(
            "authdrill_keyset_age_seconds", "Age of the key set (-1: none).", registry=r
        )
        self.feed_age = Gauge(
            "authdrill_revocation_feed_age_seconds",
            "Seconds since the revocation feed was last read (-1: never).",
            registry=r,
        )
        self.websockets = Gauge("authdrill_websockets_open", "Open WebSockets.", registry=r)
        self.cached_tokens = Gauge(
            "authdrill_verified_tokens_cached", "Verified tokens in the cache.", registry=r
        )

    def on_transition(self, transition: Transition) -> None:
        """Record a breaker transition (the guard calls this)."""
        self.breaker_state.set(_STATE_VALUES[transition.to_state])
        self.breaker_transitions.labels(
            transition.from_state.value, transition.to_state.value
        ).inc()

    def bind(self, service: BackendService) -> None:
        """Read the gauges from ``service``'s parts at scrape time."""

        def keyset_age() -> float:
            keyset = service.keys.keyset
            return -1.0 if keyset is None else keyset.age(time.time())

        def feed_age() -> float:
            age = service.feed.age(time.time())
            return -1.0 if age is None else age

        self.keyset_age.set_function(keyset_age)
        self.feed_age.set_function(feed_age)
        self.websockets.set_function(lambda: service.sockets.count)
        self.cached_tokens.set_function(lambda: len(service.cache))
