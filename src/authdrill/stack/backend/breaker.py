"""A circuit breaker as a pure state machine: no asyncio, no I/O, no real time.

::

              failure or slow-call rate >= its threshold
              (once minimum_calls outcomes are in the window)
    CLOSED ───────────────────────────────────────────────▶ OPEN
      ▲                                                     │  ▲
      │ half_open_permits trials              open wait     │  │ a trial failed or was slow
      │ succeeded, none was slow              elapsed       │  │ (the next wait is longer:
      │                                                     ▼  │ x multiplier, capped, jittered)
      └───────────────────────────────────────────────── HALF_OPEN

Callers ask :meth:`CircuitBreaker.try_acquire` for a :class:`Permit`, make the call, then
settle the permit exactly once: :meth:`~CircuitBreaker.record_success`,
:meth:`~CircuitBreaker.record_failure`, or :meth:`~CircuitBreaker.release` when the call
was cancelled and has no outcome. Every transition bumps a generation number that permits
carry, so an outcome from before a transition (a slow call started while CLOSED, a trial
of an earlier half-open round) is ignored.

Time comes from an injected monotonic clock and is only read, never waited on: OPEN
becomes HALF_OPEN lazily, the moment anything looks at the breaker after the wait. The
breaker is not thread-safe; drive it from one thread (one event loop).
"""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from authdrill.errors import ConfigError

__all__ = [
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "Permit",
    "Transition",
]

_TRANSITIONS_KEPT = 100


def _calls(n: int, noun: str = "call") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class BreakerState(enum.Enum):
    """Where the breaker is: letting calls through, rejecting them, or trying a few."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """When the breaker opens, how long it stays open, and how it tries to close.

    Durations are in seconds, rates are fractions in ``(0, 1]``.

    Raises:
        ConfigError: a field is out of range; ``key`` is the field's name.
    """

    window_size: int = 20
    minimum_calls: int = 5
    failure_rate_threshold: float = 0.5
    slow_call_duration_s: float = 1.0
    slow_call_rate_threshold: float = 0.8
    open_wait_s: float = 0.5
    open_wait_multiplier: float = 2.0
    open_wait_max_s: float = 4.0
    jitter_ratio: float = 0.2
    half_open_permits: int = 2

    def __post_init__(self) -> None:
        # Written as "x is in range" so that NaN fails every check.
        checks = (
            ("window_size", self.window_size >= 1, ">= 1"),
            ("minimum_calls", 1 <= self.minimum_calls <= self.window_size, "in 1..window_size"),
            ("failure_rate_threshold", 0 < self.failure_rate_threshold <= 1, "in (0, 1]"),
            ("slow_call_duration_s", self.slow_call_duration_s > 0, "> 0 (inf: never slow)"),
            ("slow_call_rate_threshold", 0 < self.slow_call_rate_threshold <= 1, "in (0, 1]"),
            ("open_wait_s", 0 < self.open_wait_s < math.inf, "finite and > 0"),
            ("open_wait_multiplier", 1 <= self.open_wait_multiplier < math.inf, "finite, >= 1"),
            (
                "open_wait_max_s",
                self.open_wait_s <= self.open_wait_max_s < math.inf,
                "finite and >= open_wait_s",
            ),
            ("jitter_ratio", 0 <= self.jitter_ratio < 1, "in [0, 1)"),
            ("half_open_permits", self.half_open_permits >= 1, ">= 1"),
        )
        for key, ok, requirement in checks:
            if not ok:
                raise ConfigError(key, f"must be {requirement}, got {getattr(self, key)!r}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state, at clock time ``at`` (seconds), with the reason in words."""

    at: float
    from_state: BreakerState
    to_state: BreakerState
    reason: str


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call; ``trial`` is true for a half-open trial call."""

    generation: int
    trial: bool


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """The breaker's numbers at one moment (rates are 0 when the window is empty)."""

    state: BreakerState
    calls: int
    failure_rate: float
    slow_call_rate: float
    retry_after_s: float
    consecutive_opens: int
    trials_in_flight: int
    transitions_total: int


class CircuitBreaker:
    """The breaker state machine; see the module docstring for the states.

    Args:
        policy: thresholds and waits.
        clock: monotonic seconds (``loop.time``, ``time.monotonic``, a fake in tests).
        random: uniform floats in ``[0, 1)``, used for jitter only.
        on_transition: called synchronously after each transition, once the breaker is
            in its new state; whatever it raises propagates to the caller that caused
            the transition.

    The open wait is ``min(open_wait_s * open_wait_multiplier ** (consecutive_opens - 1),
    open_wait_max_s)``, then multiplied by ``uniform(1 - jitter_ratio, 1 + jitter_ratio)``.
    The cap applies *before* jitter, so waits at the cap stay spread out (callers that
    opened together do not retry together) and a wait may exceed ``open_wait_max_s`` by at
    most ``jitter_ratio`` of it.
    """

    def __init__(
        self,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float],
        random: Callable[[], float] = random.random,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._random = random
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._window: deque[tuple[bool, bool]] = deque()  # (failed, slow), oldest first
        self._failures = 0
        self._slow = 0
        self._base_wait_s = policy.open_wait_s  # un-jittered wait of the current open
        self._open_until = 0.0
        self._consecutive_opens = 0
        self._trials_in_flight = 0
        self._trials_succeeded = 0
        self._transitions: deque[Transition] = deque(maxlen=_TRANSITIONS_KEPT)
        self._transitions_total = 0

    @property
    def policy(self) -> BreakerPolicy:
        """The policy the breaker was built with."""
        return self._policy

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN breaker whose wait has elapsed turns HALF_OPEN."""
        self._poll(self._clock())
        return self._state

    @property
    def transitions(self) -> tuple[Transition, ...]:
        """The last transitions (at most 100), oldest first."""
        return tuple(self._transitions)

    def try_acquire(self) -> Permit | None:
        """Return a permit for one call, or ``None`` if the call must not be made."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self._generation, trial=False)
        if state is BreakerState.HALF_OPEN and self._free_trials() > 0:
            self._trials_in_flight += 1
            return Permit(self._generation, trial=True)
        return None

    def record_success(self, permit: Permit, duration_s: float) -> None:
        """Settle ``permit``: the call succeeded after ``duration_s`` seconds."""
        self._record(permit, failed=False, duration_s=duration_s)

    def record_failure(self, permit: Permit, duration_s: float) -> None:
        """Settle ``permit``: the call failed after ``duration_s`` seconds."""
        self._record(permit, failed=True, duration_s=duration_s)

    def release(self, permit: Permit) -> None:
        """Settle ``permit`` without an outcome (the call was cancelled); frees a trial slot."""
        if self._is_current_trial(permit):
            self._trials_in_flight -= 1

    def retry_after_s(self) -> float:
        """Seconds until a call may next be attempted; 0.0 if one may be attempted now.

        When HALF_OPEN with every trial slot taken, no time is known (the slot frees when
        a trial ends), so this answers ``policy.open_wait_s``.
        """
        now = self._clock()
        self._poll(now)
        if self._state is BreakerState.OPEN:
            return max(0.0, self._open_until - now)
        if self._state is BreakerState.HALF_OPEN and self._free_trials() == 0:
            return self._policy.open_wait_s
        return 0.0

    def snapshot(self) -> BreakerSnapshot:
        """The breaker's numbers now."""
        retry_after_s = self.retry_after_s()
        calls = len(self._window)
        return BreakerSnapshot(
            state=self._state,
            calls=calls,
            failure_rate=self._failures / calls if calls else 0.0,
            slow_call_rate=self._slow / calls if calls else 0.0,
            retry_after_s=retry_after_s,
            consecutive_opens=self._consecutive_opens,
            trials_in_flight=self._trials_in_flight,
            transitions_total=self._transitions_total,
        )

    # ------------------------------------------------------------------ internals

    def _free_trials(self) -> int:
        used = self._trials_in_flight + self._trials_succeeded
        return self._policy.half_open_permits - used

    def _is_current_trial(self, permit: Permit) -> bool:
        # A current trial permit implies HALF_OPEN. The in-flight check keeps a permit
        # settled twice (a caller bug) from driving the count negative.
        return permit.trial and permit.generation == self._generation and self._trials_in_flight > 0

    def _record(self, permit: Permit, *, failed: bool, duration_s: float) -> None:
        if permit.generation != self._generation:
            return  # the outcome belongs to an earlier state: ignore it
        slow = duration_s >= self._policy.slow_call_duration_s
        if not permit.trial:
            self._push(failed=failed, slow=slow)
            self._check_window()
        elif self._is_current_trial(permit):
            self._trials_in_flight -= 1
            self._check_trial(failed=failed, slow=slow, duration_s=duration_s)

    def _push(self, *, failed: bool, slow: bool) -> None:
        if len(self._window) == self._policy.window_size:
            old_failed, old_slow = self._window.popleft()
            self._failures -= old_failed
            self._slow -= old_slow
        self._window.append((failed, slow))
        self._failures += failed
        self._slow += slow

    def _check_window(self) -> None:
        policy, calls = self._policy, len(self._window)
        if calls < policy.minimum_calls:
            return
        failure_rate, slow_rate = self._failures / calls, self._slow / calls
        if failure_rate >= policy.failure_rate_threshold:
            threshold = policy.failure_rate_threshold
            self._open(f"failure rate {failure_rate:.0%} >= {threshold:.0%} over {_calls(calls)}")
        elif slow_rate >= policy.slow_call_rate_threshold:
            threshold = policy.slow_call_rate_threshold
            self._open(f"slow-call rate {slow_rate:.0%} >= {threshold:.0%} over {_calls(calls)}")

    def _check_trial(self, *, failed: bool, slow: bool, duration_s: float) -> None:
        if failed:
            self._open("trial call failed")
        elif slow:
            limit = self._policy.slow_call_duration_s
            self._open(f"trial call slow ({duration_s:.3g} s >= {limit:g} s)")
        else:
            self._trials_succeeded += 1
            if self._trials_succeeded >= self._policy.half_open_permits:
                self._close(f"{_calls(self._trials_succeeded, 'trial call')} succeeded")

    def _poll(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._open_until:
            self._reset_trials()
            self._transition(BreakerState.HALF_OPEN, "open wait elapsed", now)

    def _open(self, reason: str) -> None:
        policy, now = self._policy, self._clock()
        if self._consecutive_opens == 0:
            self._base_wait_s = policy.open_wait_s
        else:  # grown step by step rather than by a power, which could overflow
            grown = self._base_wait_s * policy.open_wait_multiplier
            self._base_wait_s = min(grown, policy.open_wait_max_s)
        self._consecutive_opens += 1
        jitter = policy.jitter_ratio * (2.0 * self._random() - 1.0)
        self._open_until = now + self._base_wait_s * (1.0 + jitter)
        self._clear_window()
        self._reset_trials()
        self._transition(BreakerState.OPEN, reason, now)

    def _close(self, reason: str) -> None:
        self._consecutive_opens = 0
        self._clear_window()
        self._reset_trials()
        self._transition(BreakerState.CLOSED, reason, self._clock())

    def _clear_window(self) -> None:
        self._window.clear()
        self._failures = self._slow = 0

    def _reset_trials(self) -> None:
        self._trials_in_flight = self._trials_succeeded = 0

    def _transition(self, to_state: BreakerState, reason: str, now: float) -> None:
        transition = Transition(at=now, from_state=self._state, to_state=to_state, reason=reason)
        self._state = to_state
        self._generation += 1
        self._transitions.append(transition)
        self._transitions_total += 1
        if self._on_transition is not None:
            self._on_transition(transition)
