"""The load driver: closed-model session loops, open-model arrivals, bounds and stopping.

The driver is fed fake async callables (counters and events): no sockets, no services.
Durations the driver runs for are the behaviour under test; every wait for something to
happen is an event or a polled condition with a deadline in units of ``TIME_UNIT``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from authdrill.errors import ConfigError
from authdrill.load import LoadDriver, LoadProfile
from tests.support import TIME_UNIT, eventually

THINK_S = 0.05 * TIME_UNIT
# How long to wait for something that should happen almost at once.
DEADLINE_S = 5 * TIME_UNIT


def driver_of(
    sessions: list[Any],
    session_round: Any,
    *,
    arrival: Any = None,
    **profile: Any,
) -> LoadDriver[Any]:
    return LoadDriver(
        sessions=sessions,
        session_round=session_round,
        arrival=arrival,
        profile=LoadProfile(**profile),
    )


async def no_round(session: object) -> None:
    """A round that does nothing (for tests about arrivals)."""


async def test_every_session_gets_rounds() -> None:
    """Each session's loop runs its own rounds, and ``rounds`` counts every completed one."""
    sessions = ["a", "b", "c", "d"]
    counts: Counter[str] = Counter()
    all_busy = asyncio.Event()

    async def session_round(session: str) -> None:
        counts[session] += 1
        if all(counts[s] >= 3 for s in sessions):
            all_busy.set()

    driver = driver_of(sessions, session_round, think_time_s=0.01 * TIME_UNIT)
    async with driver:
        async with asyncio.timeout(DEADLINE_S):
            await all_busy.wait()
        assert driver.running
    assert set(counts) == set(sessions)
    assert driver.rounds == sum(counts.values())
    assert driver.crashes == []


async def test_first_rounds_are_spread_over_one_think_time() -> None:
    """Session ``i`` of ``n`` starts its first round no sooner than ``think * i / n``."""
    loop = asyncio.get_running_loop()
    think = 0.2 * TIME_UNIT
    sessions = [0, 1, 2, 3]
    first: dict[int, float] = {}
    everyone_started = asyncio.Event()

    async def session_round(session: int) -> None:
        first.setdefault(session, loop.time())
        if len(first) == len(sessions):
            everyone_started.set()

    driver = driver_of(sessions, session_round, think_time_s=think)
    started = loop.time()
    async with driver:
        async with asyncio.timeout(DEADLINE_S):
            await everyone_started.wait()
    for index in sessions:
        # 1 ms: the event loop may run a timer up to its clock resolution early
        assert first[index] - started >= think * index / len(sessions) - 0.001, first


async def test_think_time_spaces_a_sessions_rounds() -> None:
    """One session with a 50 ms think time makes about duration/think rounds, each gap at
    least half a think time (the jitter's lower bound)."""
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def session_round(session: str) -> None:
        starts.append(loop.time())

    duration = 1.0 * TIME_UNIT
    async with driver_of(["only"], session_round, think_time_s=THINK_S) as driver:
        await asyncio.sleep(duration)  # the duration under test
    expected = duration / THINK_S  # 20 rounds
    assert expected / 3 <= len(starts) <= expected * 3, len(starts)
    assert driver.rounds == len(starts)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.5 * THINK_S - 0.001, gaps


async def test_arrivals_come_at_the_rate() -> None:
    """Arrivals at 20/s for one second number about 20, numbered 0, 1, 2, ... in order."""
    rate = 20 / TIME_UNIT
    duration = 1.0 * TIME_UNIT
    seen: list[int] = []

    async def arrival(index: int) -> None:
        seen.append(index)

    async with driver_of([], no_round, arrival=arrival, rate=rate) as driver:
        await asyncio.sleep(duration)  # the duration under test
    expected = rate * duration
    assert expected / 3 <= len(seen) <= expected * 3, len(seen)
    assert seen == list(range(len(seen)))
    assert driver.arrivals == len(seen)
    assert driver.dropped == 0


async def test_rate_zero_means_no_arrivals() -> None:
    """With ``rate=0`` the arrival callable is never called while sessions keep working."""
    arrived: list[int] = []
    rounds = asyncio.Event()
    counter = itertools.count(1)

    async def arrival(index: int) -> None:
        arrived.append(index)

    async def session_round(session: str) -> None:
        if next(counter) >= 5:
            rounds.set()

    async with driver_of(["s"], session_round, arrival=arrival, think_time_s=0.01 * TIME_UNIT):
        async with asyncio.timeout(DEADLINE_S):
            await rounds.wait()
    assert arrived == []


async def test_blocked_arrivals_are_dropped_beyond_max_in_flight() -> None:
    """With every arrival stuck, at most 3 run at once and later ones are counted as dropped;
    once they finish, arrivals are admitted again."""
    release = asyncio.Event()
    active = 0
    peak = 0
    cancelled = 0

    async def arrival(index: int) -> None:
        nonlocal active, peak, cancelled
        active += 1
        peak = max(peak, active)
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        finally:
            active -= 1

    driver = driver_of([], no_round, arrival=arrival, rate=50 / TIME_UNIT, max_in_flight=3)
    async with driver:

        async def dropped_some() -> bool:
            return driver.dropped >= 5

        await eventually(dropped_some, within_s=5, what="arrivals dropped")
        assert driver.arrivals == 3
        assert peak == 3
        assert len(driver._in_flight) == 3
        release.set()

        async def admitted_again() -> bool:
            return driver.arrivals > 3

        await eventually(admitted_again, within_s=5, what="arrivals admitted after release")
        assert peak == 3
    assert active == 0
    assert cancelled == 0  # the released ones finished on their own


async def test_a_crashing_round_ends_only_its_own_session() -> None:
    """A round raising an unexpected exception stops that session's loop, is kept in
    ``crashes`` with its session and message, and the other sessions carry on."""
    calls: Counter[int] = Counter()
    progressed = asyncio.Event()
    crash_seen_at: dict[int, int] = {}

    async def session_round(session: int) -> None:
        calls[session] += 1
        if session == 1 and calls[1] == 2:
            raise RuntimeError("boom")
        if calls[1] >= 2 and not crash_seen_at:
            crash_seen_at.update(calls)
        if crash_seen_at and all(calls[s] >= crash_seen_at[s] + 3 for s in (0, 2)):
            progressed.set()

    driver = driver_of([0, 1, 2], session_round, think_time_s=0.01 * TIME_UNIT)
    async with driver:
        async with asyncio.timeout(DEADLINE_S):
            await progressed.wait()
        assert driver.running
    assert driver.crashes == ["session 1: RuntimeError: boom"]
    assert calls[1] == 2  # no round of session 1 after the crash
    assert driver.rounds == sum(calls.values()) - 1  # the crashed round did not complete


async def test_stop_cancels_blocked_rounds_and_arrivals_and_returns() -> None:
    """``stop()`` cancels every loop and in-flight arrival, even ones stuck forever, and
    returns promptly; a second ``stop()`` is harmless."""
    never = asyncio.Event()
    entered: set[str] = set()
    cancelled: list[str] = []

    async def stuck(what: str) -> None:
        entered.add(what)
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(what)
            raise

    async def session_round(session: str) -> None:
        await stuck(f"round {session}")

    async def arrival(index: int) -> None:
        await stuck(f"arrival {index}")

    driver = driver_of(
        ["a", "b"],
        session_round,
        arrival=arrival,
        think_time_s=0.01 * TIME_UNIT,
        rate=100 / TIME_UNIT,
        max_in_flight=2,
    )
    driver.start()
    tasks = list(driver._tasks)

    async def all_stuck() -> bool:
        return {"round a", "round b", "arrival 0", "arrival 1"} <= entered

    await eventually(all_stuck, within_s=5, what="rounds and arrivals in progress")
    async with asyncio.timeout(2 * TIME_UNIT):
        await driver.stop()
    assert sorted(cancelled) == ["arrival 0", "arrival 1", "round a", "round b"]
    assert not driver.running
    assert all(task.done() for task in tasks)
    assert driver._tasks == []
    assert driver._in_flight == set()
    async with asyncio.timeout(2 * TIME_UNIT):
        await driver.stop()


async def test_driver_stops_by_itself_after_max_duration() -> None:
    """Nobody calls ``stop()``: after ``max_duration_s`` the loops end and ``running`` is
    False, not before."""
    loop = asyncio.get_running_loop()
    limit = 0.2 * TIME_UNIT

    async def session_round(session: str) -> None:
        await asyncio.sleep(0)

    driver = driver_of(
        ["a", "b"], session_round, think_time_s=0.01 * TIME_UNIT, max_duration_s=limit
    )
    started = loop.time()
    driver.start()
    assert driver.running

    async def stopped() -> bool:
        return not driver.running

    await eventually(stopped, within_s=5, what="driver stopped by itself")
    assert loop.time() - started >= limit - 0.001
    assert driver.rounds > 0
    rounds = driver.rounds
    # every task is done, so no further round can ever be counted
    assert all(task.done() for task in driver._tasks)
    assert driver.rounds == rounds
    await driver.stop()


async def test_driver_stops_in_flight_arrivals_at_max_duration() -> None:
    """The hard bound on the driver's life covers its arrivals too: one stuck forever is
    cancelled when ``max_duration_s`` has passed, as ``stop()`` would."""
    never = asyncio.Event()
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def arrival(index: int) -> None:
        entered.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    driver = driver_of(
        [],
        no_round,
        arrival=arrival,
        rate=10 / TIME_UNIT,
        max_in_flight=1,
        max_duration_s=0.2 * TIME_UNIT,
    )
    driver.start()
    try:
        async with asyncio.timeout(DEADLINE_S):
            await entered.wait()

        async def stopped() -> bool:
            return not driver.running

        await eventually(stopped, within_s=5, what="driver stopped by itself")
        await eventually(
            _is_set(cancelled), within_s=1, what="the stuck arrival cancelled by the deadline"
        )
    finally:
        await driver.stop()


def _is_set(event: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return event.is_set()

    return check


async def test_async_with_starts_and_stops() -> None:
    """``async with`` yields the driver itself, running; leaving, also by an exception,
    stops it and cancels a round in progress."""
    in_round = asyncio.Event()
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def session_round(session: str) -> None:
        in_round.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    driver = driver_of(["s"], session_round)
    assert not driver.running

    async def use_then_fail() -> None:
        async with driver as entered:
            assert entered is driver
            assert driver.running
            async with asyncio.timeout(DEADLINE_S):
                await in_round.wait()
            raise LookupError("leaving early")

    with pytest.raises(LookupError, match="leaving early"):
        await use_then_fail()
    assert cancelled.is_set()
    assert not driver.running


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", -1.0),
        ("think_time_s", -0.5),
        ("max_in_flight", 0),
        ("max_in_flight", -3),
        ("max_duration_s", 0.0),
        ("max_duration_s", -1.0),
    ],
)
def test_load_profile_refuses_out_of_range_values(field: str, value: float) -> None:
    """A negative rate or think time, or no room for arrivals or time, is a ConfigError
    naming the field."""
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(ConfigError) as caught:
        LoadProfile(**kwargs)
    assert field in caught.value.key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", float("inf")),
        ("rate", float("nan")),
        ("think_time_s", float("nan")),
        ("max_duration_s", float("nan")),
    ],
)
def test_load_profile_refuses_non_finite_values(field: str, value: float) -> None:
    """NaN, or an infinite rate, is refused like a negative value (an infinite rate starts
    arrivals in a busy loop, a NaN rate silently means none, a NaN sleep never ends)."""
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(ConfigError) as caught:
        LoadProfile(**kwargs)
    assert field in caught.value.key


def test_load_profile_defaults_and_zero_rate_are_valid() -> None:
    """The defaults are bounded, and ``rate=0`` / ``think_time_s=0`` are allowed."""
    profile = LoadProfile()
    assert profile.rate == 0
    assert profile.max_in_flight >= 1
    assert 0 < profile.max_duration_s < float("inf")
    assert LoadProfile(rate=0, think_time_s=0).think_time_s == 0
