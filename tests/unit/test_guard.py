"""The asyncio guard around the breaker: fail fast, record outcomes, probe back to closed."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from authdrill.errors import AuthdrillError, ConfigError
from authdrill.stack.backend import guard as guard_module
from authdrill.stack.backend.breaker import BreakerPolicy, BreakerState, Transition
from authdrill.stack.backend.guard import BreakerOpenError, Guard

# Every real-time duration here is a multiple of UNIT; slow machines scale it up.
UNIT = 0.01 * float(os.environ.get("AUTHDRILL_TEST_TIME_UNIT", "1"))
DEADLINE = 300 * UNIT

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN

# One failure opens it; jitter off so waits are exact.
POLICY = BreakerPolicy(
    window_size=1,
    minimum_calls=1,
    failure_rate_threshold=1.0,
    slow_call_duration_s=1.0,
    open_wait_s=1.0,
    open_wait_multiplier=2.0,
    open_wait_max_s=8.0,
    jitter_ratio=0.0,
    half_open_permits=2,
)


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    """Collects transitions and lets a test wait, with a deadline, for a condition on them."""

    seen: list[Transition] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, transition: Transition) -> None:
        self.seen.append(transition)
        self.changed.set()

    async def until(self, condition: Callable[[list[Transition]], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not condition(self.seen):
                self.changed.clear()
                await self.changed.wait()


class DependencyError(Exception):
    """The dependency failed."""


async def fail() -> None:
    raise DependencyError


async def ok() -> str:
    return "ok"


async def open_guard(guard: Guard) -> None:
    with pytest.raises(DependencyError):
        await guard.call(fail)
    assert guard.state is OPEN


async def half_open_guard(guard: Guard, clock: FakeClock) -> None:
    await open_guard(guard)
    clock.now += guard.breaker.retry_after_s()
    assert guard.state is HALF_OPEN


def test_exports_are_sorted_and_exist() -> None:
    """The module's ``__all__`` is sorted and names only things it defines."""
    assert guard_module.__all__ == sorted(guard_module.__all__)
    for name in guard_module.__all__:
        assert hasattr(guard_module, name)


def test_breaker_open_error_carries_name_and_wait() -> None:
    """BreakerOpenError is an AuthdrillError that says which circuit and how long to wait."""
    error = BreakerOpenError("auth", 0.8)
    assert isinstance(error, AuthdrillError)
    assert (error.name, error.retry_after_s, error.state) == ("auth", 0.8, OPEN)
    assert str(error) == "circuit to auth is open; retry after 0.8 s"


async def test_open_guard_fails_fast_without_calling_fn() -> None:
    """An OPEN guard raises BreakerOpenError on the first step, never calling fn."""
    clock = FakeClock()
    guard = Guard("auth", POLICY, clock=clock)
    await open_guard(guard)
    clock.now += 0.25
    called: list[bool] = []

    async def fn() -> None:
        called.append(True)

    coro = guard.call(fn)
    with pytest.raises(BreakerOpenError) as info:
        coro.send(None)  # the first step raises: nothing is awaited before the check
    assert (info.value.name, info.value.retry_after_s) == ("auth", 0.75)
    assert called == []


async def test_half_open_lets_exactly_the_permits_through_50_concurrent_callers() -> None:
    """Of 50 concurrent callers while HALF_OPEN, 2 reach fn and 48 are refused at once."""
    clock = FakeClock()
    guard = Guard("auth", POLICY, clock=clock)
    await half_open_guard(guard, clock)
    gate = asyncio.Event()
    entered: list[int] = []

    async def fn(i: int) -> int:
        entered.append(i)
        await gate.wait()
        return i

    tasks = [asyncio.create_task(guard.call(functools.partial(fn, i))) for i in range(50)]
    await asyncio.sleep(0)  # one loop pass: every task has run its first step, no more
    refused = [t for t in tasks if t.done()]
    assert len(refused) == 48
    for task in refused:
        error = task.exception()
        assert isinstance(error, BreakerOpenError)
        assert (error.state, error.retry_after_s) == (HALF_OPEN, POLICY.open_wait_s)
    assert entered == [0, 1]
    assert guard.snapshot().trials_in_flight == 2
    gate.set()
    assert await asyncio.gather(*(t for t in tasks if t not in refused)) == [0, 1]
    assert guard.state is CLOSED


async def test_cancelled_trial_releases_its_permit() -> None:
    """Cancelling a trial call frees its slot and records no outcome."""
    clock = FakeClock()
    guard = Guard("auth", POLICY, clock=clock)
    await half_open_guard(guard, clock)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks = [asyncio.create_task(guard.call(hang)) for _ in range(2)]
    await started.wait()
    with pytest.raises(BreakerOpenError):
        await guard.call(ok)
    transitions = guard.transitions
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert guard.snapshot().trials_in_flight == 1
    assert guard.transitions == transitions  # neither a failure nor a success
    assert await guard.call(ok) == "ok"  # the freed slot
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert guard.snapshot().trials_in_flight == 0
    assert guard.state is HALF_OPEN


async def test_cancelled_closed_call_records_nothing() -> None:
    """Cancelling a call made while CLOSED leaves the window empty."""
    guard = Guard("auth", POLICY, clock=FakeClock())
    task = asyncio.create_task(guard.call(asyncio.Event().wait))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert guard.snapshot().calls == 0
    assert guard.state is CLOSED


async def test_exceptions_are_recorded_as_failures_and_reraised_unchanged() -> None:
    """fn's exception propagates as the same object, after opening the breaker."""
    guard = Guard("auth", POLICY, clock=FakeClock())
    error = DependencyError("auth down")

    async def fn() -> None:
        raise error

    with pytest.raises(DependencyError) as info:
        await guard.call(fn)
    assert info.value is error
    assert guard.state is OPEN


async def test_counts_as_failure_false_records_a_success() -> None:
    """An exception counts_as_failure rejects is re-raised but recorded as a success."""
    guard = Guard("auth", POLICY, clock=FakeClock())

    async def fn() -> None:
        raise KeyError("no such user")

    with pytest.raises(KeyError):
        await guard.call(fn, counts_as_failure=lambda exc: not isinstance(exc, LookupError))
    snap = guard.snapshot()
    assert (snap.state, snap.calls, snap.failure_rate) == (CLOSED, 1, 0.0)


async def test_is_failure_marks_a_returned_result_as_a_failure() -> None:
    """A result is_failure accepts is returned to the caller and recorded as a failure."""
    guard = Guard("auth", POLICY, clock=FakeClock())

    async def status() -> int:
        return 503

    assert await guard.call(status, is_failure=lambda code: code >= 500) == 503
    assert guard.state is OPEN


async def test_duration_is_measured_with_the_clock() -> None:
    """A call during which the clock moves past slow_call_duration_s is recorded slow."""
    clock = FakeClock()
    guard = Guard("auth", replace(POLICY, window_size=2, minimum_calls=2), clock=clock)

    async def slow() -> str:
        clock.now += 1.0
        return "ok"

    await guard.call(slow)
    await guard.call(ok)
    assert guard.snapshot().slow_call_rate == 0.5


async def test_a_raising_predicate_still_settles_the_permit() -> None:
    """If is_failure raises, its error propagates and the trial slot is freed."""
    clock = FakeClock()
    guard = Guard("auth", POLICY, clock=clock)
    await half_open_guard(guard, clock)

    def broken(_result: str) -> bool:
        raise ValueError("bad predicate")

    with pytest.raises(ValueError, match="bad predicate"):
        await guard.call(ok, is_failure=broken)
    assert guard.snapshot().trials_in_flight == 0


async def test_user_callback_runs_after_the_guards_own() -> None:
    """The user's on_transition sees each transition, with the probe already woken."""
    woken: list[bool] = []
    guard: Guard

    def callback(transition: Transition) -> None:
        woken.append(guard._changed.is_set())

    guard = Guard("auth", POLICY, clock=FakeClock(), on_transition=callback)
    await open_guard(guard)
    assert woken == [True]


# ---------------------------------------------------------------- the probe, real time

REAL_POLICY = replace(POLICY, open_wait_s=3 * UNIT, open_wait_max_s=12 * UNIT)


@dataclass
class Dependency:
    """A fake auth service the probe checks; ``healthy`` is what it answers."""

    healthy: bool
    probes: int = 0

    async def probe(self) -> bool:
        self.probes += 1
        await asyncio.sleep(0)
        return self.healthy


async def test_probe_closes_the_breaker_with_no_other_traffic() -> None:
    """Once the dependency answers, the probe alone takes the breaker back to CLOSED."""
    recorder, dependency = Recorder(), Dependency(healthy=True)
    guard = Guard("auth", REAL_POLICY, on_transition=recorder, probe=dependency.probe)
    guard.start_probe()
    try:
        await open_guard(guard)
        await recorder.until(lambda seen: seen[-1].to_state is CLOSED)
    finally:
        await guard.stop_probe()
    assert [(t.from_state, t.to_state) for t in recorder.seen] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    assert dependency.probes == REAL_POLICY.half_open_permits
    assert recorder.seen[1].at >= recorder.seen[0].at + REAL_POLICY.open_wait_s


async def test_probe_keeps_a_failing_dependency_open_with_growing_waits() -> None:
    """While probes fail the breaker re-opens, each wait longer, capped; then it recovers."""
    recorder, dependency = Recorder(), Dependency(healthy=False)
    planned: list[float] = []  # the open wait the breaker chose at each opening

    def on_transition(transition: Transition) -> None:
        if transition.to_state is OPEN:
            planned.append(guard.breaker._open_until - transition.at)
        recorder(transition)

    guard = Guard("auth", REAL_POLICY, on_transition=on_transition, probe=dependency.probe)
    guard.start_probe()
    try:
        await open_guard(guard)
        await recorder.until(lambda seen: sum(t.to_state is OPEN for t in seen) == 5)
        assert guard.state is not CLOSED
        dependency.healthy = True
        await recorder.until(lambda seen: seen[-1].to_state is CLOSED)
    finally:
        await guard.stop_probe()
    assert planned == pytest.approx([w * UNIT for w in (3, 6, 12, 12, 12)])
    opened = [t.at for t in recorder.seen if t.to_state is OPEN]
    half_opened = [t.at for t in recorder.seen if t.to_state is HALF_OPEN]
    for opened_at, wait, half_opened_at in zip(opened, planned, half_opened, strict=True):
        assert half_opened_at >= opened_at + wait  # the probe really waited it out
    reasons = [t.reason for t in recorder.seen if t.from_state is HALF_OPEN]
    assert reasons == ["trial call failed"] * 4 + ["2 trial calls succeeded"]
    assert dependency.probes == 4 + 2


async def test_a_raising_probe_counts_as_a_failed_trial() -> None:
    """A probe that raises re-opens the breaker instead of crashing the probe task."""
    recorder = Recorder()

    async def probe() -> bool:
        raise OSError("connection refused")

    guard = Guard("auth", REAL_POLICY, on_transition=recorder, probe=probe)
    task = guard.start_probe()
    try:
        await open_guard(guard)
        await recorder.until(lambda seen: seen[-1].reason == "trial call failed")
        assert not task.done()
    finally:
        await guard.stop_probe()


async def test_probe_waits_without_polling_and_sleeps_the_computed_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While CLOSED the probe neither sleeps nor probes; while OPEN it sleeps retry_after_s."""
    caplog.set_level(logging.DEBUG, logger="authdrill.breaker")
    clock, dependency, sleeps = FakeClock(), Dependency(healthy=False), []
    recorder = Recorder()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0)

    guard = Guard(
        "auth", POLICY, clock=clock, on_transition=recorder, probe=dependency.probe, sleep=sleep
    )
    guard.start_probe()
    try:
        for _ in range(20):
            await asyncio.sleep(0)
        assert (sleeps, dependency.probes) == ([], 0)
        await open_guard(guard)
        await recorder.until(lambda seen: len(seen) == 7)  # opened, then 3 failed rounds
    finally:
        await guard.stop_probe()
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert dependency.probes == 3
    # One WARNING per opening, none per failed probe.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "circuit to auth: closed -> open (failure rate 100% >= 100% over 1 call)",
        *["circuit to auth: half_open -> open (trial call failed)"] * 3,
    ]


async def test_stop_probe_cancels_and_awaits_the_task() -> None:
    """stop_probe leaves the probe task finished and cancelled, and can be repeated."""
    guard = Guard("auth", POLICY, clock=FakeClock(), probe=Dependency(healthy=True).probe)
    task = guard.start_probe()
    assert guard.start_probe() is task
    await asyncio.sleep(0)
    await guard.stop_probe()
    assert task.cancelled()
    await guard.stop_probe()


async def test_stop_probe_does_not_swallow_its_own_cancellation() -> None:
    """A stop_probe cancelled while the probe winds down ends cancelled, not normally."""
    clock, entered, release = FakeClock(), asyncio.Event(), asyncio.Event()

    async def stubborn_probe() -> bool:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # slow cleanup, so stop_probe is still waiting
            raise
        return True

    guard = Guard("auth", POLICY, clock=clock, probe=stubborn_probe)
    await half_open_guard(guard, clock)
    guard.start_probe()
    async with asyncio.timeout(DEADLINE):
        await entered.wait()
    stopper = asyncio.create_task(guard.stop_probe())
    await asyncio.sleep(0)  # stopper has cancelled the probe and waits for it
    stopper.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled()


async def test_stop_probe_reraises_what_crashed_the_probe() -> None:
    """An error from the user's callback inside the probe surfaces from stop_probe."""
    clock = FakeClock()

    def explode(transition: Transition) -> None:
        if transition.to_state is CLOSED:
            raise RuntimeError("metrics broke")

    guard = Guard(
        "auth",
        POLICY,
        clock=clock,
        on_transition=explode,
        probe=Dependency(healthy=True).probe,
        sleep=lambda _seconds: asyncio.sleep(0),
    )
    task = guard.start_probe()
    await half_open_guard(guard, clock)
    async with asyncio.timeout(DEADLINE):
        await asyncio.wait({task})
    with pytest.raises(RuntimeError, match="metrics broke"):
        await guard.stop_probe()


async def test_probe_needs_a_probe_function() -> None:
    """Starting the probe of a guard built without one raises ConfigError on 'probe'."""
    guard = Guard("auth", POLICY)
    with pytest.raises(ConfigError) as info:
        guard.start_probe()
    assert info.value.key == "probe"
    with pytest.raises(ConfigError):
        await guard.run_probe()
