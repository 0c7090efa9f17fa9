"""The load-mode verdicts, fed with records built by hand: existing sessions in a window,
latency back to normal after recovery, and the integrity of acknowledged writes."""

from __future__ import annotations

import pytest

from authdrill.drill._judges import judge_existing, judge_integrity, latency_normal_after
from authdrill.record import OpRecord


def op(
    name: str = "api_call",
    *,
    ok: bool = True,
    status: int = 200,
    error: str = "",
    start: float = 1.0,
    latency: float = 0.002,
) -> OpRecord:
    return OpRecord(name, "existing", "breaker", start, latency, ok, status, error)


# ---------------------------------------------------------------- judge_existing


def test_existing_passes_when_every_operation_succeeded() -> None:
    """All operations ok: the check holds, named after the window, showing the count."""
    records = [op(), op("api_write", status=201), op("ws_round_trip", status=0)]
    check = judge_existing(records, during="meanwhile", minimum=1.0)
    assert check.passed
    assert check.name == "existing sessions succeed meanwhile"
    assert check.expected == ">= 100%"
    assert check.observed == "100.0% (3/3)"


def test_existing_fails_with_a_summary_of_the_failures() -> None:
    """One failure out of four fails a 100 % minimum; observed lists failures by op, kind
    and status."""
    records = [
        op(),
        op("api_write", status=201),
        op("api_call", ok=False, status=401, error="status"),
        op("ws_round_trip", ok=False, status=1011, error="closed"),
    ]
    check = judge_existing(records, during="while auth restarts", minimum=1.0)
    assert not check.passed
    assert check.name == "existing sessions succeed while auth restarts"
    assert check.observed == (
        "50.0% (2/4); failures: api_call:status 401 x1, ws_round_trip:closed 1011 x1"
    )


def test_existing_honours_a_lower_minimum() -> None:
    """Three of four succeeding holds against 75 % and fails against 80 %."""
    records = [op(), op(), op(), op(ok=False, status=0, error="timeout")]
    assert judge_existing(records, during="meanwhile", minimum=0.75).passed
    failed = judge_existing(records, during="meanwhile", minimum=0.8)
    assert not failed.passed
    assert failed.observed.endswith("failures: api_call:timeout x1")


def test_existing_with_no_operations_fails() -> None:
    """A window in which existing sessions did nothing proves nothing: it fails."""
    check = judge_existing([], during="in the baseline", minimum=1.0)
    assert not check.passed
    assert check.observed == "no attempts"


# ---------------------------------------------------------------- latency_normal_after

BASELINE_P95 = 0.020
MARGIN = 0.5
LIMIT = BASELINE_P95 * (1 + MARGIN)  # 30 ms


def window(start: float, latency: float, n: int = 20) -> list[OpRecord]:
    """``n`` operations spread over the second from ``start``, each taking ``latency``."""
    return [op(start=start + i / n, latency=latency) for i in range(n)]


def normal_after(records: list[OpRecord], *, since: float = 10.0, **kw: float) -> float | None:
    return latency_normal_after(
        records, since=since, baseline_p95_s=BASELINE_P95, margin=MARGIN, **kw
    )


def test_normal_at_once_when_the_first_window_is_fast() -> None:
    """A first window whose p95 is within the margin counts: normal 0 s after ``since``."""
    assert normal_after(window(10.0, 0.010)) == 0.0


def test_normal_after_the_first_fast_window() -> None:
    """Two slow windows then a fast one: normal 2 s after ``since`` (later windows ignored)."""
    records = [
        *window(10.0, 0.200),
        *window(11.0, 0.100),
        *window(12.0, 0.015),
        *window(13.0, 0.500),
    ]
    assert normal_after(records) == 2.0


def test_p95_exactly_at_the_limit_is_normal() -> None:
    """p95 equal to baseline x (1 + margin) is back to normal (the bound is inclusive)."""
    assert normal_after([*window(10.0, 0.100), *window(11.0, LIMIT)]) == 1.0


def test_it_is_the_p95_that_decides() -> None:
    """One slow op in 20 leaves p95 fast (normal); two in 20 make p95 slow (not normal)."""
    one_slow = [*window(10.0, 0.010, n=19), op(start=10.99, latency=1.0)]
    assert normal_after(one_slow) == 0.0
    two_slow = [
        *window(10.0, 0.010, n=18),
        op(start=10.98, latency=1.0),
        op(start=10.99, latency=1.0),
    ]
    assert normal_after(two_slow) is None


def test_never_normal_gives_none() -> None:
    """Every window slower than the limit: ``None`` (never, in what was recorded)."""
    assert normal_after([*window(10.0, 0.200), *window(11.0, 0.031)]) is None
    assert normal_after([]) is None


def test_records_before_since_are_ignored() -> None:
    """Fast operations before ``since`` do not make recovery look done."""
    records = [*window(8.0, 0.001), *window(9.0, 0.001), *window(10.0, 0.300)]
    assert normal_after(records) is None
    records.extend(window(11.5, 0.001))
    assert normal_after(records) == pytest.approx(1.0)


def test_empty_windows_do_not_count() -> None:
    """A gap with no operations is not "normal": the first window that has operations
    and a fast p95 is the answer."""
    records = [*window(10.0, 0.200), *window(13.0, 0.010)]  # nothing in [11, 13)
    assert normal_after(records) == 3.0


def test_window_width_is_configurable() -> None:
    """With 0.5 s windows the answer is a multiple of 0.5 s."""
    records = [
        *[op(start=10.0 + i / 20, latency=0.300) for i in range(10)],  # [10.0, 10.5)
        *[op(start=10.5 + i / 20, latency=0.010) for i in range(10)],  # [10.5, 11.0)
    ]
    assert normal_after(records, window_s=0.5) == 0.5
    assert normal_after(records, window_s=1.0) is None  # one window, half of it slow


# ---------------------------------------------------------------- judge_integrity


def test_integrity_passes_when_every_acknowledged_write_is_there() -> None:
    """Nothing missing and everyone read back: both checks hold."""
    checks = judge_integrity(acknowledged=5, missing=[], unread=0, minimum=1.0)
    assert [c.name for c in checks] == [
        "acknowledged writes present afterwards",
        "every user's writes could be read back",
    ]
    assert all(c.passed for c in checks)
    assert checks[0].observed == "100.0% (5/5)"
    assert checks[1].observed == "0 unreadable"


def test_missing_writes_fail_and_are_listed() -> None:
    """Missing ids fail the first check, and observed names them."""
    present, readable = judge_integrity(acknowledged=10, missing=[3, 7], unread=0, minimum=1.0)
    assert not present.passed
    assert present.observed == "80.0% (8/10); missing ids: 3, 7"
    assert readable.passed


def test_many_missing_writes_show_the_first_ten() -> None:
    """More than ten missing ids: the first ten are shown, then an ellipsis."""
    missing = list(range(100, 125))
    present, _ = judge_integrity(acknowledged=40, missing=missing, unread=0, minimum=1.0)
    assert not present.passed
    shown = ", ".join(str(i) for i in range(100, 110))
    assert present.observed == f"37.5% (15/40); missing ids: {shown} …"
    assert "110" not in present.observed


def test_a_lower_minimum_tolerates_some_loss_but_still_lists_it() -> None:
    """One of twenty missing holds against 90 %, and the missing id is still reported."""
    present, _ = judge_integrity(acknowledged=20, missing=["n-9"], unread=0, minimum=0.9)
    assert present.passed
    assert present.observed == "95.0% (19/20); missing ids: n-9"


def test_unreadable_users_fail_the_second_check() -> None:
    """A user whose writes could not be read back fails the read-back check."""
    present, readable = judge_integrity(acknowledged=4, missing=[], unread=1, minimum=1.0)
    assert present.passed
    assert not readable.passed
    assert readable.observed == "1 unreadable"
    assert readable.expected == "0 unreadable"


def test_nothing_acknowledged_cannot_prove_integrity() -> None:
    """Zero acknowledged writes fail the first check with "no attempts": a drill in which
    nothing was written cannot show that nothing was lost."""
    present, readable = judge_integrity(acknowledged=0, missing=[], unread=0, minimum=1.0)
    assert not present.passed
    assert present.observed == "no attempts"
    assert readable.passed


def test_slack_accepts_a_few_milliseconds_above_a_tiny_baseline() -> None:
    """With a 2 ms baseline, 9 ms is 'normal' when 10 ms of slack is allowed, not otherwise."""
    records = [op(start=10.1 + i * 0.01, latency=0.009) for i in range(30)]
    strict = latency_normal_after(records, since=10.0, baseline_p95_s=0.002, margin=0.5)
    assert strict is None
    lenient = latency_normal_after(
        records, since=10.0, baseline_p95_s=0.002, margin=0.5, slack_s=0.010
    )
    assert lenient == 0.0


def test_small_windows_are_merged_so_one_outlier_is_not_the_p95() -> None:
    """A window of 5 operations with one slow outlier fails alone but not merged to 20."""
    records = [op(start=10.0 + w + i * 0.1, latency=0.5 if (w, i) == (0, 0) else 0.002)
               for w in range(4) for i in range(5)]  # fmt: skip
    alone = latency_normal_after(records, since=10.0, baseline_p95_s=0.002, margin=0.5)
    assert alone == 1.0  # the first 1-s window's p95 is the 500 ms outlier
    merged = latency_normal_after(
        records, since=10.0, baseline_p95_s=0.002, margin=0.5, min_samples=20
    )
    assert merged == 0.0
