"""The latency histogram: bounded relative error, clamped to what was recorded, mergeable."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authdrill.record import Histogram

EPSILON = 0.01  # the default relative error
BASE = 1e-6  # the default base: values at or below it share one bucket
# Every float comparison allows a few ulps of the logarithm/exponent round trip.
ROUNDING = 1e-9

# Positive floats from the base (1 µs) to ~11.5 days, plus a pool to draw duplicates from.
latencies = st.floats(min_value=BASE, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(
    st.one_of(latencies, st.sampled_from([BASE, 0.001, 0.0015, 0.25, 1.0, 1e6])),
    min_size=1,
    max_size=300,
)
percents = st.integers(min_value=1, max_value=100)


def exact_percentile(values: list[float], percent: int) -> float:
    """The nearest-rank percentile, computed with exact arithmetic."""
    ordered = sorted(values)
    rank = math.ceil(Fraction(percent, 100) * len(ordered))
    return ordered[rank - 1]


def histogram_of(values: list[float]) -> Histogram:
    histogram = Histogram()
    histogram.extend(values)
    return histogram


@given(values=samples, percent=percents)
@example(values=[float(i) for i in range(1, 101)], percent=7)
def test_percentile_is_within_the_relative_error_of_the_exact_one(
    values: list[float], percent: int
) -> None:
    """Any percentile is within 1 % of the exact nearest-rank percentile of the values."""
    reported = histogram_of(values).percentile(percent)
    exact = exact_percentile(values, percent)
    assert reported is not None
    assert abs(reported - exact) <= exact * (EPSILON + ROUNDING), (
        f"p{percent} of {len(values)} values: reported {reported!r}, exact {exact!r}"
    )


@pytest.mark.parametrize(("percent", "count"), [(7, 100), (14, 50), (28, 25), (56, 25)])
def test_percentile_rank_is_exact_when_p_times_n_is_a_whole_number(
    percent: int, count: int
) -> None:
    """p7 of 1..100 is 7 (rank 7), not 8: the rank must not suffer float rounding."""
    values = [float(i) for i in range(1, count + 1)]
    reported = histogram_of(values).percentile(percent)
    exact = exact_percentile(values, percent)
    assert reported is not None
    assert abs(reported - exact) <= exact * EPSILON, (
        f"p{percent} of 1..{count}: reported {reported}, exact {exact}"
    )


@given(values=samples)
def test_p100_is_the_recorded_maximum_exactly(values: list[float]) -> None:
    """p100 is the largest value recorded, not its bucket's representative."""
    assert histogram_of(values).percentile(100) == max(values)


@given(values=samples, percent=st.floats(min_value=0.001, max_value=100))
def test_no_percentile_leaves_the_recorded_range(values: list[float], percent: float) -> None:
    """No percentile exceeds the max or goes below the min (the p99 > max rounding bug)."""
    reported = histogram_of(values).percentile(percent)
    assert reported is not None
    assert min(values) <= reported <= max(values)


def test_a_single_value_is_every_percentile() -> None:
    """With one value recorded, every percentile is that value exactly."""
    histogram = histogram_of([0.123456])
    assert {histogram.percentile(p) for p in (1, 50, 99, 99.9, 100)} == {0.123456}


def test_values_below_the_base_are_within_the_base_absolutely() -> None:
    """Sub-microsecond values share one bucket: their error is bounded by the base (1 µs)."""
    values = [1e-9, 3e-7, 5e-7, 2.0]
    histogram = histogram_of(values)
    for percent in (25, 50, 75):
        reported = histogram.percentile(percent)
        assert reported is not None
        assert abs(reported - exact_percentile(values, percent)) <= BASE


@given(first=samples, second=samples)
def test_merge_equals_the_histogram_of_the_concatenation(
    first: list[float], second: list[float]
) -> None:
    """Merging two histograms gives what recording all values into one would."""
    merged = histogram_of(first)
    merged.merge(histogram_of(second))
    together = histogram_of(first + second)
    assert merged.count == together.count == len(first) + len(second)
    assert merged.min == together.min
    assert merged.max == together.max
    assert math.isclose(merged.total, together.total, rel_tol=1e-12)
    for percent in (1, 25, 50, 90, 95, 99, 99.9, 100):
        assert merged.percentile(percent) == together.percentile(percent), percent


def test_merging_an_empty_histogram_changes_nothing() -> None:
    """An empty histogram is the identity of merge, in both directions."""
    values = [0.002, 0.004, 0.008]
    left = histogram_of(values)
    left.merge(Histogram())
    right = Histogram()
    right.merge(histogram_of(values))
    for histogram in (left, right):
        assert histogram.count == 3
        assert (histogram.min, histogram.max) == (0.002, 0.008)
        assert histogram.percentile(50) == histogram_of(values).percentile(50)


def test_merge_refuses_a_different_resolution() -> None:
    """Histograms with different relative errors cannot be merged."""
    with pytest.raises(ValueError, match="resolution"):
        Histogram().merge(Histogram(relative_error=0.05))


def test_empty_histogram_has_no_percentile_and_no_mean() -> None:
    """Nothing recorded: percentiles and the mean are None, not 0."""
    histogram = Histogram()
    assert histogram.percentile(50) is None
    assert histogram.percentile(100) is None
    assert histogram.mean is None
    assert histogram.count == 0


@pytest.mark.parametrize("percent", [0, -1, 100.0001, 101, math.nan, math.inf])
def test_invalid_percentile_raises(percent: float) -> None:
    """p outside (0, 100] is a ValueError, also when nothing was recorded."""
    for histogram in (Histogram(), histogram_of([0.1])):
        with pytest.raises(ValueError, match="p must be"):
            histogram.percentile(percent)


@pytest.mark.parametrize("relative_error", [0, -0.01, 0.5, 1.0])
def test_invalid_relative_error_raises(relative_error: float) -> None:
    """A relative error outside (0, 0.5) is refused at construction."""
    with pytest.raises(ValueError, match="relative_error"):
        Histogram(relative_error=relative_error)


@given(values=samples)
def test_mean_is_exact(values: list[float]) -> None:
    """The mean is the exact arithmetic mean of what was recorded, not of bucket midpoints."""
    assert histogram_of(values).mean == sum(values) / len(values)


def test_negative_values_are_recorded_as_zero() -> None:
    """A negative latency (clock skew) counts as 0 and never drags the minimum below 0."""
    histogram = histogram_of([-0.5, 0.25])
    assert histogram.count == 2
    assert histogram.min == 0.0
    median = histogram.percentile(50)
    assert median is not None
    assert 0.0 <= median <= BASE
    assert histogram.mean == 0.125
