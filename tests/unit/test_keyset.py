"""Key-set freshness decisions (pure): age, usability, refresh timing, kid cooldown."""

from __future__ import annotations

from typing import Any

import pytest

from authdrill.errors import ConfigError
from authdrill.stack.backend.keyset import (
    KeySet,
    KeySetPolicy,
    may_refresh_for_unknown_kid,
    next_refresh_in,
)
from authdrill.stack.jose import VerificationKey

POLICY = KeySetPolicy(
    refresh_interval_s=300.0,
    retry_interval_s=5.0,
    max_staleness_s=3600.0,
    unknown_kid_cooldown_s=10.0,
)
FETCHED = 1_000_000.0
KEYS = {"k1": VerificationKey(kid="k1", alg="EdDSA", key=object())}


def keyset(keys: dict[str, VerificationKey] | None = None) -> KeySet:
    return KeySet(keys=KEYS if keys is None else keys, fetched_at=FETCHED, source="auth")


@pytest.mark.parametrize(("elapsed", "age"), [(0.0, 0.0), (12.5, 12.5), (-30.0, 0.0)])
def test_age_is_elapsed_time_never_negative(elapsed: float, age: float) -> None:
    """Age is seconds since the fetch, clamped at 0 when the clock went backwards."""
    assert keyset().age(FETCHED + elapsed) == age


@pytest.mark.parametrize(
    ("elapsed", "usable"),
    [(0.0, True), (3599.0, True), (3600.0, True), (3600.001, False), (86400.0, False)],
)
def test_usable_up_to_and_including_max_staleness(elapsed: float, usable: bool) -> None:
    """A set is usable while its age is at most max_staleness_s."""
    assert keyset().usable(POLICY, FETCHED + elapsed) is usable


def test_empty_key_set_is_never_usable() -> None:
    """A fresh set with no keys cannot verify anything."""
    assert keyset({}).usable(POLICY, FETCHED) is False


@pytest.mark.parametrize(
    ("elapsed", "due"), [(0.0, False), (299.999, False), (300.0, True), (5000.0, True)]
)
def test_refresh_due_from_refresh_interval_on(elapsed: float, due: bool) -> None:
    """A refresh is due once the age reaches refresh_interval_s."""
    assert keyset().refresh_due(POLICY, FETCHED + elapsed) is due


@pytest.mark.parametrize(
    ("elapsed", "failed", "expected"),
    [
        (0.0, False, 300.0),  # fresh: the whole interval
        (100.0, False, 200.0),  # the remaining time
        (300.0, False, 0.0),  # due now
        (1000.0, False, 0.0),  # overdue: never negative
        (-50.0, False, 300.0),  # clock went backwards: age clamps to 0
        (100.0, True, 5.0),  # last attempt failed: retry interval
        (1000.0, True, 5.0),
    ],
)
def test_next_refresh_in(elapsed: float, failed: bool, expected: float) -> None:
    """Failed → retry interval; otherwise the time left until the refresh is due."""
    result = next_refresh_in(keyset(), POLICY, now=FETCHED + elapsed, last_attempt_failed=failed)
    assert result == pytest.approx(expected)


@pytest.mark.parametrize("failed", [False, True])
def test_next_refresh_without_a_key_set_is_the_retry_interval(failed: bool) -> None:
    """With no key set yet, the refresher retries at the retry interval."""
    assert next_refresh_in(None, POLICY, now=FETCHED, last_attempt_failed=failed) == 5.0


@pytest.mark.parametrize(
    ("last", "now", "allowed"),
    [
        (None, 0.0, True),  # never refreshed
        (100.0, 100.0, False),  # just refreshed
        (100.0, 109.999, False),  # inside the cooldown
        (100.0, 110.0, True),  # exactly the cooldown later
        (100.0, 500.0, True),
    ],
)
def test_unknown_kid_refresh_cooldown(last: float | None, now: float, allowed: bool) -> None:
    """An unknown kid may trigger a refresh only once per cooldown."""
    assert may_refresh_for_unknown_kid(last, POLICY, now=now) is allowed


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"refresh_interval_s": 0.0}, "refresh_interval_s"),
        ({"refresh_interval_s": -1.0}, "refresh_interval_s"),
        ({"retry_interval_s": 0.0}, "retry_interval_s"),
        ({"max_staleness_s": 0.0}, "max_staleness_s"),
        ({"unknown_kid_cooldown_s": -5.0}, "unknown_kid_cooldown_s"),
        ({"refresh_interval_s": 600.0, "max_staleness_s": 599.0}, "max_staleness_s"),
    ],
)
def test_policy_rejects_bad_values(overrides: dict[str, Any], key: str) -> None:
    """Non-positive durations, or staleness below the refresh interval, are ConfigErrors."""
    with pytest.raises(ConfigError) as info:
        KeySetPolicy(**overrides)
    assert info.value.key == key


def test_policy_accepts_staleness_equal_to_refresh_interval() -> None:
    """max_staleness_s may equal refresh_interval_s."""
    policy = KeySetPolicy(refresh_interval_s=60.0, max_staleness_s=60.0)
    assert policy.max_staleness_s == 60.0
