"""Parsing the services' Prometheus metrics into the flat series the report keeps."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from authdrill.drill._scraper import parse_metrics


def exposition() -> str:
    """Real exposition text, as a service's ``/metrics`` serves it."""
    registry = CollectorRegistry()
    state = Gauge(
        "authdrill_breaker_state", "0 closed, 1 half-open, 2 open", ["target"], registry=registry
    )
    state.labels(target="auth").set(2)
    requests = Counter(
        "authdrill_requests", "requests", ["route", "method", "status"], registry=registry
    )
    requests.labels(route="/api/me", method="GET", status="200").inc(7)
    latency = Histogram(
        "authdrill_request_seconds", "latency", buckets=(0.01, 0.1), registry=registry
    )
    latency.observe(0.005)
    latency.observe(0.05)
    other = Gauge("process_open_fds", "not ours", registry=registry)
    other.set(12)
    return generate_latest(registry).decode()


def test_only_prefixed_series_are_kept_without_buckets_or_created() -> None:
    """``authdrill_*`` samples are kept; histogram buckets, ``_created`` stamps and other
    prefixes are dropped; sums and counts remain."""
    text = exposition()
    assert "authdrill_request_seconds_bucket{" in text
    assert "authdrill_requests_created " in text
    series = parse_metrics(text)
    assert series == {
        "authdrill_breaker_state{target=auth}": 2.0,
        "authdrill_requests_total{method=GET,route=/api/me,status=200}": 7.0,
        "authdrill_request_seconds_count": 2.0,
        "authdrill_request_seconds_sum": pytest.approx(0.055),
    }
    assert not any(name.endswith(("_bucket", "_created")) for name in series)
    assert not any("_bucket{" in name or "_created{" in name for name in series)


def test_labels_are_rendered_sorted_by_name() -> None:
    """Labels come out as ``name{a=1,b=2}`` whatever order the text had them in."""
    text = 'authdrill_x{b="2",a="1"} 3\nauthdrill_y 4.5\n'
    assert parse_metrics(text) == {"authdrill_x{a=1,b=2}": 3.0, "authdrill_y": 4.5}


def test_another_prefix_can_be_chosen() -> None:
    """``prefix=`` selects another family of series."""
    assert parse_metrics(exposition(), prefix="process_") == {"process_open_fds": 12.0}


def test_empty_text_is_no_series() -> None:
    """An empty answer parses to no series (not an error)."""
    assert parse_metrics("") == {}


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>Not Found</body></html>",
        "this is not prometheus",
        'authdrill_x{a="1" 2',
        "authdrill_x{a=1} 2",
        "authdrill_x abc",
    ],
)
def test_malformed_text_is_a_value_error(text: str) -> None:
    """Text that is not the exposition format raises ValueError (which the scraper treats
    as a gap in the series)."""
    with pytest.raises(ValueError):  # noqa: PT011 - prometheus_client's messages vary per input
        parse_metrics(text)
