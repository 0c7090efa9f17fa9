"""The pure circuit breaker, driven with a fake clock and a fixed random source."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from authdrill.errors import ConfigError
from authdrill.stack.backend import breaker as breaker_module
from authdrill.stack.backend.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    Permit,
    Transition,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
LEGAL_EDGES = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}

# Jitter off, waits of 1 s doubling up to 8 s, 2 trials; slow means >= 1 s.
POLICY = BreakerPolicy(
    window_size=10,
    minimum_calls=5,
    failure_rate_threshold=0.5,
    slow_call_duration_s=1.0,
    slow_call_rate_threshold=0.8,
    open_wait_s=1.0,
    open_wait_multiplier=2.0,
    open_wait_max_s=8.0,
    jitter_ratio=0.0,
    half_open_permits=2,
)
FAST, SLOW = 0.01, 1.0


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """A breaker with its fake clock and the transitions its callback received."""

    def __init__(self, policy: BreakerPolicy = POLICY, random: float = 0.5) -> None:
        self.clock = FakeClock()
        self.seen: list[Transition] = []
        self.breaker = CircuitBreaker(
            policy, clock=self.clock, random=lambda: random, on_transition=self.seen.append
        )

    def call(self, *, failed: bool = False, duration_s: float = FAST) -> Permit:
        permit = self.breaker.try_acquire()
        assert permit is not None, "the breaker refused a call the test expected to pass"
        if failed:
            self.breaker.record_failure(permit, duration_s)
        else:
            self.breaker.record_success(permit, duration_s)
        return permit

    def calls(self, outcomes: str) -> None:
        """Make one call per letter: ``o`` ok, ``f`` failed, ``s`` slow success."""
        for letter in outcomes:
            self.call(failed=letter == "f", duration_s=SLOW if letter == "s" else FAST)

    def open(self) -> None:
        self.calls("fffff")
        assert self.breaker.state is OPEN

    def half_open(self) -> None:
        self.open()
        self.clock.advance(self.breaker.retry_after_s())
        assert self.breaker.state is HALF_OPEN

    def trial(self) -> Permit:
        permit = self.breaker.try_acquire()
        assert permit is not None
        assert permit.trial
        return permit


def test_exports_are_sorted_and_exist() -> None:
    """The module's ``__all__`` is sorted and names only things it defines."""
    assert breaker_module.__all__ == sorted(breaker_module.__all__)
    for name in breaker_module.__all__:
        assert hasattr(breaker_module, name)


def test_stays_closed_below_minimum_calls() -> None:
    """Failures do not open the breaker until minimum_calls outcomes are in the window."""
    h = Harness()
    h.calls("ffff")
    assert h.breaker.state is CLOSED
    assert h.breaker.snapshot().failure_rate == 1.0
    h.calls("f")
    assert h.breaker.state is OPEN


@pytest.mark.parametrize(("threshold", "failures"), [(0.5, 5), (0.3, 3), (0.7, 7), (1.0, 10)])
def test_opens_at_exactly_the_failure_rate_threshold(threshold: float, failures: int) -> None:
    """The breaker opens when failures/calls equals the threshold, not only above it."""
    h = Harness(replace(POLICY, minimum_calls=10, failure_rate_threshold=threshold))
    h.calls("o" * (10 - failures) + "f" * (failures - 1))
    assert h.breaker.state is CLOSED  # one failure short, and below minimum_calls
    h.calls("f")
    assert h.breaker.state is OPEN
    assert h.seen[-1].reason == (f"failure rate {threshold:.0%} >= {threshold:.0%} over 10 calls")


def test_stays_closed_just_below_the_failure_rate_threshold() -> None:
    """4 failures in 10 calls (40%) keep a 50% breaker closed."""
    h = Harness(replace(POLICY, minimum_calls=10))
    h.calls("ffff" + "o" * 6)
    assert h.breaker.state is CLOSED


def test_opens_on_slow_call_rate_even_if_every_call_succeeds() -> None:
    """Slow successes open the breaker once they reach the slow-call rate threshold."""
    h = Harness()
    h.calls("sssoo")  # 60% slow
    assert h.breaker.state is CLOSED
    h.calls("ss")  # window sssooss: 5/7 = 71%
    assert h.breaker.state is CLOSED
    h.calls("s")  # 6/8 = 75%
    assert h.breaker.state is CLOSED
    h.calls("ss")  # 8/10 = 80%
    assert h.breaker.state is OPEN
    assert h.seen[-1].reason == "slow-call rate 80% >= 80% over 10 calls"


def test_a_call_exactly_slow_call_duration_long_is_slow() -> None:
    """A call lasting exactly slow_call_duration_s counts as slow."""
    h = Harness()
    h.call(duration_s=POLICY.slow_call_duration_s)
    h.call(duration_s=math.nextafter(POLICY.slow_call_duration_s, 0))
    assert h.breaker.snapshot().slow_call_rate == 0.5


def test_window_slides_over_the_last_window_size_outcomes() -> None:
    """Outcomes older than the last window_size calls no longer count."""
    h = Harness(replace(POLICY, window_size=4, minimum_calls=4, failure_rate_threshold=1.0))
    h.calls("f" + "oooo")
    snap = h.breaker.snapshot()
    assert (snap.calls, snap.failure_rate) == (4, 0.0)  # the failure fell out
    h.calls("fff")
    assert h.breaker.state is CLOSED  # window offf: 75%
    h.calls("f")
    assert h.breaker.state is OPEN  # window ffff: 100%


def test_open_rejects_calls_and_starts_from_an_empty_window() -> None:
    """An OPEN breaker has cleared its window and refuses every call until its wait ends."""
    h = Harness()
    h.open()
    assert (h.breaker.snapshot().calls, h.breaker.snapshot().failure_rate) == (0, 0.0)
    assert h.breaker.try_acquire() is None
    h.clock.advance(0.999)
    assert h.breaker.try_acquire() is None
    assert h.breaker.state is OPEN


def test_open_turns_half_open_lazily_once_the_wait_elapsed() -> None:
    """Looking at an OPEN breaker after its wait moves it to HALF_OPEN, recorded."""
    h = Harness()
    h.open()
    h.clock.advance(POLICY.open_wait_s)
    assert len(h.seen) == 1  # nothing happened while nobody looked
    assert h.breaker.state is HALF_OPEN
    assert h.seen[-1] == Transition(h.clock.now, OPEN, HALF_OPEN, "open wait elapsed")


def test_half_open_lets_only_half_open_permits_calls_through() -> None:
    """With 2 permits, a 3rd concurrent trial is refused."""
    h = Harness()
    h.half_open()
    first, second = h.trial(), h.trial()
    assert first == second == Permit(h.breaker._generation, trial=True)
    assert h.breaker.try_acquire() is None
    assert h.breaker.snapshot().trials_in_flight == 2


def test_closes_after_half_open_permits_trial_successes() -> None:
    """The breaker closes once 2 trials succeed, and a used trial is not handed out again."""
    h = Harness()
    h.half_open()
    first, second = h.trial(), h.trial()
    h.breaker.record_success(first, FAST)
    assert h.breaker.state is HALF_OPEN
    assert h.breaker.try_acquire() is None  # one success used a permit, one in flight
    h.breaker.record_success(second, FAST)
    assert h.breaker.state is CLOSED
    assert h.seen[-1].reason == "2 trial calls succeeded"
    snap = h.breaker.snapshot()
    assert (snap.calls, snap.consecutive_opens, snap.trials_in_flight) == (0, 0, 0)


@pytest.mark.parametrize(
    ("failed", "duration_s", "reason"),
    [
        (True, FAST, "trial call failed"),
        (False, 1.5, "trial call slow (1.5 s >= 1 s)"),
        (True, 1.5, "trial call failed"),
    ],
)
def test_a_failed_or_slow_trial_reopens_with_a_longer_wait(
    failed: bool, duration_s: float, reason: str
) -> None:
    """Any failed or slow trial re-opens the breaker, with the wait doubled."""
    h = Harness()
    h.half_open()
    first, _ = h.trial(), h.trial()
    if failed:
        h.breaker.record_failure(first, duration_s)
    else:
        h.breaker.record_success(first, duration_s)
    assert h.breaker.state is OPEN
    assert h.seen[-1].reason == reason
    assert h.breaker.snapshot().consecutive_opens == 2
    assert h.breaker.retry_after_s() == 2.0


def test_open_wait_grows_by_the_multiplier_up_to_the_cap() -> None:
    """Each consecutive re-open doubles the wait, capped at open_wait_max_s."""
    h = Harness(replace(POLICY, open_wait_max_s=5.0))
    h.open()
    waits = [h.breaker.retry_after_s()]
    for _ in range(4):
        h.clock.advance(waits[-1])
        h.breaker.record_failure(h.trial(), FAST)
        waits.append(h.breaker.retry_after_s())
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert h.breaker.snapshot().consecutive_opens == 5


def test_closing_resets_the_wait_to_open_wait_s() -> None:
    """After a successful half-open round, the next open waits open_wait_s again."""
    h = Harness()
    h.half_open()
    h.breaker.record_failure(h.trial(), FAST)
    assert h.breaker.retry_after_s() == 2.0
    h.clock.advance(2.0)
    for permit in (h.trial(), h.trial()):
        h.breaker.record_success(permit, FAST)
    h.open()
    assert h.breaker.retry_after_s() == 1.0


@pytest.mark.parametrize(
    ("random", "factor"), [(0.0, 0.8), (0.5, 1.0), (0.75, 1.1), (math.nextafter(1.0, 0), 1.2)]
)
def test_jitter_scales_the_wait_within_the_jitter_ratio(random: float, factor: float) -> None:
    """The wait is multiplied by 1 - j .. 1 + j, mapped linearly from the random source."""
    h = Harness(replace(POLICY, jitter_ratio=0.2), random=random)
    h.open()
    assert h.breaker.retry_after_s() == pytest.approx(1.0 * factor)


def test_jitter_applies_after_the_cap() -> None:
    """At the cap the jittered wait may exceed open_wait_max_s by at most jitter_ratio."""
    policy = replace(POLICY, open_wait_max_s=2.0, jitter_ratio=0.2)
    h = Harness(policy, random=math.nextafter(1.0, 0))
    h.half_open()
    for _ in range(3):
        h.breaker.record_failure(h.trial(), FAST)
        wait = h.breaker.retry_after_s()
        h.clock.advance(wait)
    assert wait == pytest.approx(2.0 * 1.2)


def test_outcome_of_a_call_started_before_opening_is_ignored() -> None:
    """A slow call from the CLOSED era failing after the breaker opened changes nothing."""
    h = Harness()
    old = h.breaker.try_acquire()
    assert old is not None
    h.open()
    before = (h.breaker.retry_after_s(), h.breaker.snapshot())
    h.breaker.record_failure(old, 30.0)
    assert (h.breaker.retry_after_s(), h.breaker.snapshot()) == before
    h.clock.advance(1.0)
    assert h.breaker.state is HALF_OPEN
    h.breaker.record_failure(old, 30.0)  # nor does it count as a failed trial
    assert h.breaker.state is HALF_OPEN
    h.breaker.record_success(old, FAST)  # nor as a successful one
    h.breaker.record_success(h.trial(), FAST)
    assert h.breaker.state is HALF_OPEN


def test_trial_from_an_earlier_half_open_round_is_ignored() -> None:
    """A late trial outcome from a previous round neither counts nor frees a slot."""
    h = Harness()
    h.half_open()
    failing, late = h.trial(), h.trial()
    h.breaker.record_failure(failing, FAST)
    h.clock.advance(h.breaker.retry_after_s())
    assert h.breaker.state is HALF_OPEN
    h.breaker.record_success(late, FAST)  # would close the breaker with one more success
    h.breaker.record_success(h.trial(), FAST)
    assert h.breaker.state is HALF_OPEN
    h.breaker.record_failure(late, FAST)  # would re-open it
    assert h.breaker.state is HALF_OPEN
    h.trial()
    h.breaker.release(late)  # would free the slot just taken
    assert h.breaker.try_acquire() is None
    assert h.breaker.snapshot().trials_in_flight == 1


def test_release_frees_a_half_open_slot_and_records_nothing() -> None:
    """Releasing a trial permit lets another trial through; no outcome is counted."""
    h = Harness()
    h.half_open()
    first, _ = h.trial(), h.trial()
    assert h.breaker.try_acquire() is None
    h.breaker.release(first)
    assert h.breaker.state is HALF_OPEN
    assert h.breaker.snapshot().trials_in_flight == 1
    h.trial()
    assert h.breaker.try_acquire() is None


def test_release_of_a_closed_permit_records_nothing() -> None:
    """Releasing a permit taken while CLOSED leaves the window untouched."""
    h = Harness()
    permit = h.breaker.try_acquire()
    assert permit is not None
    h.breaker.release(permit)
    assert h.breaker.snapshot().calls == 0


def test_a_trial_settled_twice_counts_once() -> None:
    """Settling the same trial permit twice cannot drive the in-flight count negative."""
    h = Harness()
    h.half_open()
    permit = h.trial()
    h.breaker.record_success(permit, FAST)
    h.breaker.record_success(permit, FAST)
    h.breaker.release(permit)
    snap = h.breaker.snapshot()
    assert (snap.state, snap.trials_in_flight) == (HALF_OPEN, 0)
    h.trial()
    assert h.breaker.try_acquire() is None  # one slot used, one in flight: no third


def test_retry_after_s_in_each_state() -> None:
    """retry_after_s is 0 when a call may go, the remaining wait when OPEN."""
    h = Harness()
    assert h.breaker.retry_after_s() == 0.0
    h.open()
    h.clock.advance(0.25)
    assert h.breaker.retry_after_s() == 0.75
    h.clock.advance(0.75)
    assert h.breaker.retry_after_s() == 0.0  # HALF_OPEN with free slots
    h.trial()
    h.trial()
    assert h.breaker.retry_after_s() == POLICY.open_wait_s  # HALF_OPEN, slots taken


def test_snapshot_reports_window_rates() -> None:
    """The snapshot's rates are failures and slow calls over calls in the window."""
    h = Harness()
    assert h.breaker.snapshot().failure_rate == h.breaker.snapshot().slow_call_rate == 0.0
    h.call(failed=True)
    h.call(duration_s=SLOW)
    h.calls("oo")
    snap = h.breaker.snapshot()
    assert (snap.state, snap.calls, snap.failure_rate, snap.slow_call_rate) == (
        CLOSED,
        4,
        0.25,
        0.25,
    )
    assert (snap.retry_after_s, snap.consecutive_opens, snap.transitions_total) == (0.0, 0, 0)


def test_transitions_are_recorded_with_reasons_and_passed_to_the_callback() -> None:
    """A full cycle yields four transitions, each given to the callback in order."""
    h = Harness()
    h.half_open()
    h.breaker.record_failure(h.trial(), FAST)
    h.clock.advance(2.0)
    for permit in (h.trial(), h.trial()):
        h.breaker.record_success(permit, FAST)
    assert [(t.from_state, t.to_state, t.reason) for t in h.breaker.transitions] == [
        (CLOSED, OPEN, "failure rate 100% >= 50% over 5 calls"),
        (OPEN, HALF_OPEN, "open wait elapsed"),
        (HALF_OPEN, OPEN, "trial call failed"),
        (OPEN, HALF_OPEN, "open wait elapsed"),
        (HALF_OPEN, CLOSED, "2 trial calls succeeded"),
    ]
    assert list(h.breaker.transitions) == h.seen
    assert [t.at for t in h.seen] == [100.0, 101.0, 101.0, 103.0, 103.0]
    assert h.breaker.snapshot().transitions_total == 5


def test_transition_history_is_bounded_and_oldest_first() -> None:
    """Only the last 100 transitions are kept; the total keeps counting."""
    h = Harness(replace(POLICY, minimum_calls=1, open_wait_multiplier=1.0))
    h.calls("f")
    for _ in range(60):
        h.clock.advance(1.0)
        h.breaker.record_failure(h.trial(), FAST)
    kept = h.breaker.transitions
    assert len(kept) == 100
    assert h.breaker.snapshot().transitions_total == 121
    assert kept == tuple(h.seen[-100:])


def test_a_raising_callback_propagates_after_the_transition() -> None:
    """An exception from on_transition reaches the caller; the breaker has moved anyway."""
    clock = FakeClock()

    def explode(transition: Transition) -> None:
        raise RuntimeError(transition.to_state.value)

    breaker = CircuitBreaker(replace(POLICY, minimum_calls=1), clock=clock, on_transition=explode)
    permit = breaker.try_acquire()
    assert permit is not None
    with pytest.raises(RuntimeError, match="open"):
        breaker.record_failure(permit, FAST)
    assert breaker.snapshot().state is OPEN


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("window_size", 0),
        ("minimum_calls", 0),
        ("minimum_calls", 11),
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", 1.01),
        ("failure_rate_threshold", math.nan),
        ("slow_call_duration_s", 0.0),
        ("slow_call_rate_threshold", 0.0),
        ("slow_call_rate_threshold", 2.0),
        ("open_wait_s", 0.0),
        ("open_wait_s", math.inf),
        ("open_wait_multiplier", 0.5),
        ("open_wait_max_s", 0.5),
        ("open_wait_max_s", math.inf),
        ("jitter_ratio", -0.1),
        ("jitter_ratio", 1.0),
        ("half_open_permits", 0),
    ],
)
def test_policy_validation_names_the_field(key: str, value: Any) -> None:
    """An out-of-range policy value raises ConfigError naming that field."""
    with pytest.raises(ConfigError) as info:
        replace(POLICY, **{key: value})
    assert info.value.key == key
    assert str(value) in info.value.problem


def test_policy_defaults_are_valid() -> None:
    """The default policy passes validation and has the documented values."""
    policy = BreakerPolicy()
    assert (policy.window_size, policy.minimum_calls, policy.half_open_permits) == (20, 5, 2)


class BreakerMachine(RuleBasedStateMachine):
    """Random acquire/record/release/advance sequences keep the breaker's invariants."""

    def __init__(self) -> None:
        super().__init__()
        policy = BreakerPolicy(window_size=6, minimum_calls=3, open_wait_s=1.0, open_wait_max_s=4.0)
        self.h = Harness(policy, random=0.3)
        self.permits: list[Permit] = []

    @rule()
    def acquire(self) -> None:
        before = self.h.breaker.state
        permit = self.h.breaker.try_acquire()
        if before is CLOSED:
            assert permit == Permit(self.h.breaker._generation, trial=False)
        if before is OPEN:
            assert permit is None
        if permit is not None:
            assert permit.trial == (before is HALF_OPEN)
            self.permits.append(permit)

    @precondition(lambda self: self.permits)
    @rule(
        index=st.integers(min_value=0),
        failed=st.booleans(),
        duration_s=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    )
    def record(self, index: int, failed: bool, duration_s: float) -> None:
        permit = self.permits.pop(index % len(self.permits))
        if failed:
            self.h.breaker.record_failure(permit, duration_s)
        else:
            self.h.breaker.record_success(permit, duration_s)

    @precondition(lambda self: self.permits)
    @rule(index=st.integers(min_value=0))
    def release(self, index: int) -> None:
        self.h.breaker.release(self.permits.pop(index % len(self.permits)))

    @rule(seconds=st.sampled_from([0.0, 0.4, 1.0, 2.5, 10.0]))
    def advance(self, seconds: float) -> None:
        self.h.clock.advance(seconds)

    @invariant()
    def numbers_stay_in_range(self) -> None:
        policy, snap = self.h.breaker.policy, self.h.breaker.snapshot()
        assert 0 <= snap.trials_in_flight <= policy.half_open_permits
        assert 0 <= snap.calls <= policy.window_size
        assert 0.0 <= snap.failure_rate <= 1.0
        assert 0.0 <= snap.slow_call_rate <= 1.0
        assert (snap.retry_after_s > 0) == (
            snap.state is OPEN or (snap.state is HALF_OPEN and self.h.breaker._free_trials() == 0)
        )
        if snap.state is not CLOSED:
            assert snap.calls == 0
            assert snap.consecutive_opens >= 1

    @invariant()
    def in_flight_matches_outstanding_current_trials(self) -> None:
        generation = self.h.breaker._generation
        outstanding = sum(p.trial and p.generation == generation for p in self.permits)
        assert self.h.breaker.snapshot().trials_in_flight == outstanding

    @invariant()
    def transitions_follow_legal_edges(self) -> None:
        previous = CLOSED
        for transition in self.h.seen:
            assert (transition.from_state, transition.to_state) in LEGAL_EDGES
            assert transition.from_state is previous
            previous = transition.to_state
        assert previous is self.h.breaker._state


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60)
test_breaker_invariants = BreakerMachine.TestCase
