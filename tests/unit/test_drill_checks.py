"""Check constructors: each says what was expected and what was observed, and can fail."""

from __future__ import annotations

import pytest

from authdrill.drill import Check, at_least, at_most, fraction_at_least, holds, is_equal


@pytest.mark.parametrize(
    ("observed", "passed"), [(99.0, True), (100.0, True), (100.5, False), (None, False)]
)
def test_at_most_holds_up_to_the_limit_and_never_for_nothing(
    observed: float | None, passed: bool
) -> None:
    """at_most holds for observed <= limit; nothing observed does not hold."""
    assert at_most("latency", observed, 100.0, unit="ms").passed is passed


@pytest.mark.parametrize(
    ("observed", "passed"), [(3.0, True), (2.0, True), (1.999, False), (None, False)]
)
def test_at_least_holds_from_the_minimum_and_never_for_nothing(
    observed: float | None, passed: bool
) -> None:
    """at_least holds for observed >= minimum; nothing observed does not hold."""
    assert at_least("sessions", observed, 2.0).passed is passed


def test_at_most_words_both_sides_with_the_unit() -> None:
    """Expected reads '<= 100 ms', observed '250 ms'; nothing observed says so."""
    check = at_most("login refusal p99", 250.0, 100.0, unit="ms")
    assert check == Check(
        name="login refusal p99", passed=False, expected="<= 100 ms", observed="250 ms"
    )
    missing = at_most("breaker reported OPEN", None, 5000.0, unit="ms")
    assert missing.expected == "<= 5000 ms"
    assert missing.observed == "nothing measured"


def test_at_least_words_both_sides() -> None:
    """Expected reads '>= 3', observed the number; fractions keep three significant digits."""
    assert at_least("users", 2, 3) == Check(
        name="users", passed=False, expected=">= 3", observed="2"
    )
    assert at_least("ratio", 0.12345, 0.1).observed == "0.123"
    assert at_least("nothing", None, 1).observed == "nothing measured"


def test_unitless_values_have_no_trailing_space() -> None:
    """Without a unit the text ends with the number."""
    check = at_most("disconnects", 0, 0)
    assert (check.expected, check.observed) == ("<= 0", "0")


@pytest.mark.parametrize(
    ("good", "total", "minimum", "passed", "observed"),
    [
        (10, 10, 1.0, True, "100.0% (10/10)"),
        (9, 10, 1.0, False, "90.0% (9/10)"),
        (8, 10, 0.8, True, "80.0% (8/10)"),
        (175, 180, 1.0, False, "97.2% (175/180)"),
        (0, 0, 0.0, False, "no attempts"),
        (0, 0, 1.0, False, "no attempts"),
    ],
)
def test_fraction_at_least(
    good: int, total: int, minimum: float, passed: bool, observed: str
) -> None:
    """A fraction holds at or above the minimum and never with zero attempts."""
    check = fraction_at_least("success", good, total, minimum)
    assert check.passed is passed
    assert check.observed == observed


@pytest.mark.parametrize(
    ("minimum", "expected"), [(1.0, ">= 100%"), (0.8, ">= 80%"), (0.995, ">= 99.5%")]
)
def test_fraction_at_least_words_the_minimum(minimum: float, expected: str) -> None:
    """The minimum is shown as a percentage, with a decimal only when it needs one."""
    assert fraction_at_least("success", 1, 1, minimum).expected == expected


def test_is_equal_compares_and_shows_both_values() -> None:
    """is_equal holds only for equal values and prints both."""
    assert is_equal("state", "closed", "closed") == Check(
        name="state", passed=True, expected="closed", observed="closed"
    )
    check = is_equal("state", "open", "closed")
    assert check == Check(name="state", passed=False, expected="closed", observed="open")


def test_holds_keeps_the_callers_words() -> None:
    """holds passes the condition through with the wording it was given."""
    check = holds("backend ready", condition=False, expected="ready", observed="not ready")
    assert check == Check(
        name="backend ready", passed=False, expected="ready", observed="not ready"
    )
    assert holds("backend ready", condition=True, expected="ready", observed="ready").passed


def test_check_as_json_has_exactly_the_documented_fields() -> None:
    """A check serialises to name, passed, expected and observed, nothing else."""
    check = at_most("latency", 12.5, 100.0, unit="ms")
    assert check.as_json() == {
        "name": "latency",
        "passed": True,
        "expected": "<= 100 ms",
        "observed": "12.5 ms",
    }


def test_a_failed_fraction_never_reads_like_the_minimum() -> None:
    """One failure in 10 000 must not be shown as '100.0%' next to 'expected >= 100%'."""
    check = fraction_at_least("success", 9_999, 10_000, 1.0)
    assert not check.passed
    assert "(9999/10000)" in check.observed
    assert not check.observed.startswith("100.0%"), check.observed
