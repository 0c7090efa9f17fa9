"""Drill settings and thresholds: DESIGN defaults, validation, and NAME=VALUE overrides."""

from __future__ import annotations

import dataclasses
import math

import pytest

from authdrill.drill import DrillSettings, Thresholds, parse_overrides
from authdrill.errors import ConfigError


def test_threshold_defaults_match_the_design() -> None:
    """The DESIGN table's defaults: 100 % everywhere, no disconnect, 503 refusals."""
    t = Thresholds()
    assert t.min_sessions_established == 1.0  # phase 2: all N sessions
    assert t.min_outage_session_success == 1.0  # phase 4: 100 % (the seed accepted 0.8)
    assert t.max_websocket_disconnects == 0  # phases 4 and 8: zero disconnects
    assert t.login_refusal_status == 503  # phase 5: 503 + Retry-After + JSON
    assert t.min_recovered_session_success == 1.0  # phase 8: 100 % of old sessions
    assert 0 < t.max_login_latency_ms <= 1000  # phase 5: "fast"
    assert 0 < t.max_rejection_p99_ms <= t.max_login_latency_ms  # phase 6: fail fast once open
    assert t.max_open_call_slowdown >= 1  # phase 6: open routes "keep their latency"
    assert t.breaker_open_within_s > 0
    assert t.breaker_close_within_s > 0
    assert t.recovery_login_within_s > 0


def test_setting_defaults_are_a_small_valid_drill() -> None:
    """The default drill opens a few sessions and makes a few rounds, bounded in time."""
    s = DrillSettings()
    assert s.users >= 1
    assert s.persist_rounds >= 1
    assert s.outage_logins >= 1
    assert s.concurrency >= 1
    assert 0 < s.request_timeout_s <= 30
    assert 0 < s.sample_interval_s < 1


@pytest.mark.parametrize(
    "name",
    ["min_sessions_established", "min_outage_session_success", "min_recovered_session_success"],
)
@pytest.mark.parametrize("value", [-0.01, 1.01, 80.0, math.nan])
def test_fractions_outside_zero_to_one_are_refused_naming_the_field(
    name: str, value: float
) -> None:
    """A success fraction must be in [0, 1]; 80 (a percentage by mistake) is refused too."""
    with pytest.raises(ConfigError) as raised:
        Thresholds(**{name: value})  # type: ignore[arg-type]
    assert name in raised.value.key
    assert name in str(raised.value)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_fraction_bounds_are_allowed(value: float) -> None:
    """0 and 1 are both valid fractions."""
    assert Thresholds(min_outage_session_success=value).min_outage_session_success == value


@pytest.mark.parametrize(
    "name",
    [
        "max_login_latency_ms",
        "breaker_open_within_s",
        "max_rejection_p99_ms",
        "max_open_call_slowdown",
        "breaker_close_within_s",
        "recovery_login_within_s",
    ],
)
@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan])
def test_threshold_durations_must_be_positive_and_finite(name: str, value: float) -> None:
    """Limits and deadlines must be finite numbers > 0; the error names the field."""
    with pytest.raises(ConfigError) as raised:
        Thresholds(**{name: value})  # type: ignore[arg-type]
    assert raised.value.key == name


@pytest.mark.parametrize(
    ("name", "value"), [("max_websocket_disconnects", -1), ("open_call_slack_ms", -0.5)]
)
def test_allowances_must_not_be_negative(name: str, value: float) -> None:
    """Disconnects allowed and slack cannot be negative; the error names the field."""
    with pytest.raises(ConfigError) as raised:
        Thresholds(**{name: value})  # type: ignore[arg-type]
    assert name in raised.value.key


@pytest.mark.parametrize(
    "name",
    [
        "users",
        "persist_rounds",
        "outage_logins",
        "concurrency",
        "request_timeout_s",
        "sample_interval_s",
    ],
)
@pytest.mark.parametrize("value", [0, -3, math.inf, math.nan, True])
def test_settings_must_be_positive_numbers(name: str, value: object) -> None:
    """Sizes and intervals must be finite numbers > 0 (a bool is not a number here)."""
    with pytest.raises(ConfigError) as raised:
        DrillSettings(**{name: value})  # type: ignore[arg-type]
    assert raised.value.key == name


def test_overrides_convert_to_each_fields_type() -> None:
    """Strings become ints for int fields and floats for float fields."""
    settings = parse_overrides(
        DrillSettings(),
        ["users=20", "request_timeout_s=2.5", "persist-rounds = 7"],
        what="setting",
    )
    assert settings.users == 20
    assert isinstance(settings.users, int)
    assert settings.request_timeout_s == 2.5
    assert settings.persist_rounds == 7
    thresholds = parse_overrides(
        Thresholds(),
        [
            "min_outage_session_success=0.99",
            "max_websocket_disconnects=2",
            "breaker_open_within_s=3",
        ],
        what="threshold",
    )
    assert thresholds.min_outage_session_success == 0.99
    assert thresholds.max_websocket_disconnects == 2
    assert isinstance(thresholds.max_websocket_disconnects, int)
    assert thresholds.breaker_open_within_s == 3.0
    assert isinstance(thresholds.breaker_open_within_s, float)


def test_overrides_keep_everything_else() -> None:
    """Only the named fields change; no override returns an equal copy."""
    base = Thresholds(breaker_close_within_s=3.0)
    changed = parse_overrides(base, ["recovery_login_within_s=5"], what="threshold")
    assert dataclasses.replace(changed, recovery_login_within_s=15.0) == base
    assert parse_overrides(base, [], what="threshold") == base


def test_the_last_override_of_a_name_wins() -> None:
    """Repeating a flag keeps the last value, as command lines usually do."""
    settings = parse_overrides(DrillSettings(), ["users=2", "users=9"], what="setting")
    assert settings.users == 9


@pytest.mark.parametrize("pair", ["nope=1", "users", "=3", "Users=3"])
def test_unknown_names_are_refused_listing_the_known_ones(pair: str) -> None:
    """An unknown name (or no '=') is a ConfigError naming the flag and the valid names."""
    with pytest.raises(ConfigError) as raised:
        parse_overrides(DrillSettings(), [pair], what="setting")
    assert raised.value.key == f"--setting {pair}"
    for name in ("users", "persist_rounds", "request_timeout_s"):
        assert name in raised.value.problem


@pytest.mark.parametrize(
    ("pair", "field_name", "type_name"),
    [
        ("users=many", "users", "int"),
        ("users=2.5", "users", "int"),
        ("request_timeout_s=fast", "request_timeout_s", "float"),
        ("users=", "users", "int"),
    ],
)
def test_values_of_the_wrong_type_are_refused(pair: str, field_name: str, type_name: str) -> None:
    """A value that is not the field's type is a ConfigError naming the field and the type."""
    with pytest.raises(ConfigError) as raised:
        parse_overrides(DrillSettings(), [pair], what="setting")
    assert raised.value.key == f"--setting {field_name}"
    assert type_name in raised.value.problem


@pytest.mark.parametrize(
    ("pair", "field_name"),
    [
        ("min_outage_session_success=1.5", "min_outage_session_success"),
        ("breaker_open_within_s=0", "breaker_open_within_s"),
        ("breaker_open_within_s=inf", "breaker_open_within_s"),
        ("max_rejection_p99_ms=nan", "max_rejection_p99_ms"),
    ],
)
def test_converted_values_are_still_validated(pair: str, field_name: str) -> None:
    """A value of the right type but out of range is refused by the field's validation."""
    with pytest.raises(ConfigError) as raised:
        parse_overrides(Thresholds(), [pair], what="threshold")
    assert field_name in raised.value.key
