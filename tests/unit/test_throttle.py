"""Login throttling with a fake clock: pair and client budgets, no lockout of others."""

from __future__ import annotations

import pytest

from authdrill.stack.auth.throttle import LoginThrottle, ThrottlePolicy

POLICY = ThrottlePolicy(
    pair_failures=5, pair_window_s=900.0, client_failures=20, client_window_s=60.0, max_keys=1000
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(POLICY, clock=clock)


def fail(
    throttle: LoginThrottle, times: int, account: str = "alice", client: str = "10.0.0.1"
) -> None:
    for _ in range(times):
        throttle.record_failure(account, client)


def test_fifth_failure_blocks_the_pair_for_the_rest_of_the_window(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """Four failures leave the pair open; the fifth blocks it until the window passes."""
    throttle.record_failure("alice", "10.0.0.1")
    clock.now += 100
    fail(throttle, 3)
    assert throttle.retry_after("alice", "10.0.0.1") == 0.0
    fail(throttle, 1)
    assert throttle.retry_after("alice", "10.0.0.1") == pytest.approx(800.0)
    clock.now += 799
    assert throttle.retry_after("alice", "10.0.0.1") == pytest.approx(1.0)


def test_window_slides_past_the_oldest_failure(throttle: LoginThrottle, clock: FakeClock) -> None:
    """Once the oldest of the last five failures leaves the window, attempts resume."""
    throttle.record_failure("alice", "10.0.0.1")  # t = 0
    clock.now += 300
    fail(throttle, 4)  # t = 300
    clock.now += 600  # t = 900: the first failure is a whole window old
    assert throttle.retry_after("alice", "10.0.0.1") == 0.0
    fail(throttle, 1)  # t = 900: five failures within the window again
    assert throttle.retry_after("alice", "10.0.0.1") == pytest.approx(300.0)


def test_another_client_for_the_same_account_is_not_blocked(throttle: LoginThrottle) -> None:
    """An attacker exhausting their own pair does not lock the victim out elsewhere."""
    fail(throttle, 5, client="6.6.6.6")
    assert throttle.retry_after("alice", "6.6.6.6") > 0
    assert throttle.retry_after("alice", "10.0.0.1") == 0.0
    assert throttle.retry_after("bob", "6.6.6.6") == 0.0


def test_client_budget_spans_many_accounts(throttle: LoginThrottle, clock: FakeClock) -> None:
    """One address spraying many accounts is blocked for every account at its budget."""
    for i in range(19):
        throttle.record_failure(f"user{i}", "6.6.6.6")
    assert throttle.retry_after("fresh-user", "6.6.6.6") == 0.0
    clock.now += 10
    throttle.record_failure("user19", "6.6.6.6")
    assert throttle.retry_after("fresh-user", "6.6.6.6") == pytest.approx(50.0)
    assert throttle.retry_after("fresh-user", "10.0.0.1") == 0.0
    clock.now += 50
    assert throttle.retry_after("fresh-user", "6.6.6.6") == 0.0


def test_retry_after_is_the_longer_of_both_budgets(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """When both budgets are spent the caller waits for the later one."""
    fail(throttle, 5)
    for i in range(15):
        throttle.record_failure(f"user{i}", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == pytest.approx(900.0)
    assert throttle.retry_after("bob", "10.0.0.1") == pytest.approx(60.0)


def test_success_clears_the_pair_but_not_the_client_budget(throttle: LoginThrottle) -> None:
    """A successful login forgets its pair's failures; the client's count stays."""
    fail(throttle, 4)
    throttle.record_success("alice", "10.0.0.1")
    fail(throttle, 4)
    assert throttle.retry_after("alice", "10.0.0.1") == 0.0  # 4, not 8, pair failures
    for i in range(12):
        throttle.record_failure(f"user{i}", "10.0.0.1")  # 8 + 12 = 20 client failures
    throttle.record_success("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == pytest.approx(60.0)


def test_tracked_keys_are_bounded_and_oldest_evicted(clock: FakeClock) -> None:
    """At most max_keys pairs are tracked; the least recently failed is forgotten."""
    throttle = LoginThrottle(
        ThrottlePolicy(pair_failures=2, client_failures=10_000, max_keys=3), clock=clock
    )
    fail(throttle, 2, account="a")
    fail(throttle, 2, account="b")
    fail(throttle, 2, account="c")
    throttle.record_failure("a", "10.0.0.1")  # touching "a" makes "b" the oldest
    fail(throttle, 1, account="d")  # a fourth pair evicts "b"
    assert len(throttle._pairs._events) == 3
    assert throttle.retry_after("b", "10.0.0.1") == 0.0
    assert throttle.retry_after("a", "10.0.0.1") > 0
    assert throttle.retry_after("c", "10.0.0.1") > 0


def test_client_window_is_bounded_too(clock: FakeClock) -> None:
    """The per-client window also tracks at most max_keys addresses."""
    throttle = LoginThrottle(ThrottlePolicy(max_keys=5), clock=clock)
    for i in range(50):
        throttle.record_failure("alice", f"10.0.0.{i}")
    assert len(throttle._clients._events) == 5
    assert len(throttle._pairs._events) == 5
