"""Statistics of recorded operations: groups per phase, population and op; timelines."""

from __future__ import annotations

import pytest

from authdrill.record import Histogram, Recorder, summarize, timeline


def recorder_with(
    rows: list[tuple[str, str, str, float, float, bool, int, str]],
) -> Recorder:
    """A recorder holding ``(phase, population, op, start, latency, ok, status, error)`` rows."""
    recorder = Recorder(clock=lambda: 0.0)
    for phase, population, op, start, latency, ok, status, error in rows:
        recorder.phase = phase
        recorder.add(
            op, population, start=start, latency=latency, ok=ok, status=status, error=error
        )
    return recorder


ROWS = [
    ("baseline", "existing", "api_call", 0.1, 0.002, True, 200, ""),
    ("baseline", "existing", "api_call", 0.2, 0.004, True, 200, ""),
    ("baseline", "new", "backend_login", 0.3, 0.050, True, 200, ""),
    ("persist", "existing", "api_call", 1.1, 0.003, True, 200, ""),
    ("persist", "existing", "api_call", 1.2, 0.100, False, 401, "status"),
    ("persist", "new", "backend_login", 1.3, 0.001, False, 503, "status"),
    ("persist", "new", "backend_login", 1.4, 0.001, False, 503, "status"),
    ("persist", "new", "backend_login", 1.5, 5.0, False, 0, "timeout"),
    ("persist", "existing", "api_call", 1.6, 0.005, True, 200, ""),
    ("baseline", "existing", "api_call", 0.25, 0.006, True, 200, ""),
]


def test_summarize_groups_by_phase_population_and_op_in_first_seen_order() -> None:
    """One group per (phase, population, op), in the order each was first recorded; a
    later record of an earlier group joins it."""
    groups = summarize(recorder_with(ROWS).columns())
    assert [(g.phase, g.population, g.op) for g in groups] == [
        ("baseline", "existing", "api_call"),
        ("baseline", "new", "backend_login"),
        ("persist", "existing", "api_call"),
        ("persist", "new", "backend_login"),
    ]
    assert [g.count for g in groups] == [3, 1, 3, 3]


def test_summarize_counts_successes_failures_and_labels_errors() -> None:
    """ok/failed/success_rate per group; errors are labelled ``kind status`` (or the kind
    alone when no status was seen) and counted."""
    by_key = {(g.phase, g.population, g.op): g for g in summarize(recorder_with(ROWS).columns())}
    calls = by_key["persist", "existing", "api_call"]
    assert (calls.count, calls.ok, calls.failed) == (3, 2, 1)
    assert calls.success_rate == pytest.approx(2 / 3)
    assert calls.errors == {"status 401": 1}
    logins = by_key["persist", "new", "backend_login"]
    assert (logins.ok, logins.failed, logins.success_rate) == (0, 3, 0.0)
    assert logins.errors == {"status 503": 2, "timeout": 1}
    clean = by_key["baseline", "existing", "api_call"]
    assert (clean.success_rate, clean.errors) == (1.0, {})


def test_percentiles_are_milliseconds_from_the_groups_histogram() -> None:
    """p50/p95/p99 are the histogram's percentiles of the group's latencies, times 1000;
    p99 never exceeds the max."""
    latencies = [0.001 * i for i in range(1, 101)]
    rows = [
        ("recover", "existing", "ws_round_trip", i * 0.01, lat, True, 0, "")
        for i, lat in enumerate(latencies)
    ]
    [group] = summarize(recorder_with(rows).columns())
    reference = Histogram()
    reference.extend(latencies)
    for p in (50, 95, 99):
        expected = reference.percentile(p)
        assert expected is not None
        assert group.percentile_ms(p) == pytest.approx(expected * 1000)
    assert group.percentile_ms(50) == pytest.approx(50, rel=0.011)
    assert group.percentile_ms(95) == pytest.approx(95, rel=0.011)
    p99 = group.percentile_ms(99)
    assert p99 is not None
    assert p99 <= 100.0
    assert group.histogram.max == pytest.approx(0.1)


def test_summarize_keeps_only_the_phases_asked_for() -> None:
    """``phases=`` keeps the groups of those phases only; an unknown phase gives nothing."""
    columns = recorder_with(ROWS).columns()
    kept = summarize(columns, phases=["persist"])
    assert {g.phase for g in kept} == {"persist"}
    assert [g.count for g in kept] == [3, 3]
    both = summarize(columns, phases=("baseline", "persist"))
    assert [g.as_json() for g in both] == [g.as_json() for g in summarize(columns)]
    assert summarize(columns, phases=["restore"]) == []
    assert summarize(recorder_with([]).columns()) == []


def test_group_as_json_has_the_documented_shape() -> None:
    """A group's JSON: identity, counts, rate, p50/p95/p99/max in ms (3 decimals) and
    errors sorted by label."""
    by_key = {(g.phase, g.population, g.op): g for g in summarize(recorder_with(ROWS).columns())}
    doc = by_key["persist", "new", "backend_login"].as_json()
    assert list(doc) == [
        "phase",
        "population",
        "op",
        "count",
        "ok",
        "failed",
        "success_rate",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "errors",
    ]
    assert doc["phase"] == "persist"
    assert doc["population"] == "new"
    assert doc["op"] == "backend_login"
    assert (doc["count"], doc["ok"], doc["failed"], doc["success_rate"]) == (3, 0, 3, 0.0)
    assert doc["max_ms"] == 5000.0
    assert doc["p99_ms"] == 5000.0  # the last rank is the max exactly
    assert doc["p50_ms"] == pytest.approx(1.0, rel=0.011)
    assert list(doc["errors"].items()) == [("status 503", 2), ("timeout", 1)]
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        assert round(doc[key], 3) == doc[key]


def test_timeline_buckets_by_start_time_per_op() -> None:
    """Each op gets one bucket per ``bucket_s`` of start time it was active in, with its
    count, failures and latency percentiles."""
    buckets = timeline(recorder_with(ROWS).columns(), bucket_s=1.0)
    assert [(b.start, b.op, b.count, b.failed) for b in buckets] == [
        (0.0, "api_call", 3, 0),
        (0.0, "backend_login", 1, 0),
        (1.0, "api_call", 3, 1),
        (1.0, "backend_login", 3, 3),
    ]
    login_late = buckets[3]
    assert login_late.histogram.max == 5.0
    half = timeline(recorder_with(ROWS).columns(), bucket_s=0.5)
    assert [(b.start, b.op, b.count) for b in half] == [
        (0.0, "api_call", 3),
        (0.0, "backend_login", 1),
        (1.0, "api_call", 2),
        (1.0, "backend_login", 2),
        (1.5, "api_call", 1),
        (1.5, "backend_login", 1),
    ]


def test_timeline_is_ordered_by_time_then_op_whatever_the_recording_order() -> None:
    """Records are added when operations end, not start: the timeline still comes out by
    bucket time, then by op name."""
    rows = [
        ("recover", "existing", "ws_round_trip", 2.5, 0.01, True, 0, ""),
        ("recover", "existing", "api_call", 2.7, 0.01, True, 200, ""),
        ("persist", "existing", "ws_round_trip", 0.4, 3.0, True, 0, ""),  # long: ended last
        ("persist", "existing", "api_call", 1.2, 0.01, True, 200, ""),
    ]
    buckets = timeline(recorder_with(rows).columns(), bucket_s=1.0)
    assert [(b.start, b.op) for b in buckets] == [
        (0.0, "ws_round_trip"),
        (1.0, "api_call"),
        (2.0, "api_call"),
        (2.0, "ws_round_trip"),
    ]
    assert timeline(recorder_with([]).columns()) == []


@pytest.mark.parametrize("bucket_s", [0.0, -1.0])
def test_timeline_refuses_a_bucket_that_is_not_positive(bucket_s: float) -> None:
    """A bucket width of zero or less is a ValueError."""
    with pytest.raises(ValueError, match="bucket_s"):
        timeline(recorder_with(ROWS).columns(), bucket_s=bucket_s)


def test_bucket_as_json_has_the_documented_shape() -> None:
    """A bucket's JSON: ``t`` (rounded), op, count, failed and p50/p95/p99 in ms."""
    buckets = timeline(recorder_with(ROWS).columns(), bucket_s=1.0)
    doc = buckets[2].as_json()
    assert list(doc) == ["t", "op", "count", "failed", "p50_ms", "p95_ms", "p99_ms"]
    assert (doc["t"], doc["op"], doc["count"], doc["failed"]) == (1.0, "api_call", 3, 1)
    assert doc["p99_ms"] == 100.0
    assert doc["p50_ms"] == pytest.approx(5.0, rel=0.011)
    assert doc["p50_ms"] <= doc["p95_ms"] <= doc["p99_ms"]
