"""Login throttling (pure: time comes from an injected clock).

Two sliding windows of *failed* logins:

* per (account, client address): a small budget (default 5 per 15 min). An attacker
  guessing a victim's password from their own address exhausts only *their* pair, so
  the victim, logging in from elsewhere, is never locked out.
* per client address: a larger budget (default 100 per minute) against one address
  spraying many accounts.

Successful logins are never throttled and clear their pair's failures. Memory is
bounded: at most ``max_keys`` keys are tracked per window, oldest evicted first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoginThrottle", "ThrottlePolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottlePolicy:
    """Failure budgets and their windows (seconds)."""

    pair_failures: int = 5
    pair_window_s: float = 900.0
    client_failures: int = 100
    client_window_s: float = 60.0
    max_keys: int = 100_000


class _Window:
    """Timestamps of the last ``limit`` failures per key, for one sliding window."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._events: OrderedDict[object, deque[float]] = OrderedDict()

    def retry_after(self, key: object, now: float) -> float:
        events = self._events.get(key)
        if events is None or len(events) < self._limit:
            return 0.0
        return max(0.0, self._window_s - (now - events[0]))

    def add(self, key: object, now: float) -> None:
        events = self._events.get(key)
        if events is None:
            events = deque(maxlen=self._limit)
            self._events[key] = events
            if len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(now)

    def clear(self, key: object) -> None:
        self._events.pop(key, None)


class LoginThrottle:
    """Decides whether a login attempt may proceed."""

    def __init__(self, policy: ThrottlePolicy, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._pairs = _Window(policy.pair_failures, policy.pair_window_s, policy.max_keys)
        self._clients = _Window(policy.client_failures, policy.client_window_s, policy.max_keys)

    def retry_after(self, account: str, client: str) -> float:
        """Seconds until an attempt for ``account`` from ``client`` may be made (0 = now)."""
        now = self._clock()
        return max(
            self._pairs.retry_after((account, client), now),
            self._clients.retry_after(client, now),
        )

    def record_failure(self, account: str, client: str) -> None:
        """Count a failed attempt against both budgets."""
        now = self._clock()
        self._pairs.add((account, client), now)
        self._clients.add(client, now)

    def record_success(self, account: str, client: str) -> None:
        """Forget the pair's failures (the client's budget is left as is)."""
        self._pairs.clear((account, client))
