"""Options from flags and environment, converters, and the two services' settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authdrill.errors import ConfigError
from authdrill.stack import options as o
from authdrill.stack.auth.settings import AuthSettings, parse_auth_settings
from authdrill.stack.backend.settings import BackendSettings, parse_backend_settings

PORT = o.Option("port", "--port", "APP_PORT", o.port, 8000, "port")
NAME = o.Option("name", "--name", "APP_NAME", o.text, None, "name")
PEERS = o.Option("peers", "--peer", "APP_PEERS", o.text, (), "peers", repeat=True)
OPTIONS = (PORT, NAME, PEERS)


def parse(argv: list[str], environ: dict[str, str] | None = None) -> dict[str, Any]:
    return o.parse_options("app", "an app", OPTIONS, argv, environ or {})


# ------------------------------------------------------------------ parse_options


def test_defaults_when_neither_flag_nor_env() -> None:
    """Unset options take their default, unconverted."""
    assert parse([]) == {"port": 8000, "name": None, "peers": ()}


def test_env_beats_default() -> None:
    """An environment variable overrides the default and is converted."""
    assert parse([], {"APP_PORT": "9000"})["port"] == 9000


def test_flag_beats_env() -> None:
    """A flag overrides the environment variable."""
    assert parse(["--port", "7000"], {"APP_PORT": "9000"})["port"] == 7000


def test_bad_flag_value_names_the_flag() -> None:
    """A bad value from the command line is reported against the flag."""
    with pytest.raises(ConfigError) as info:
        parse(["--port", "http"], {"APP_PORT": "9000"})
    assert info.value.key == "--port"
    assert "'http'" in info.value.problem


def test_bad_env_value_names_the_variable() -> None:
    """A bad value from the environment is reported against the variable."""
    with pytest.raises(ConfigError) as info:
        parse([], {"APP_PORT": "70000"})
    assert info.value.key == "APP_PORT"
    assert "70000" in info.value.problem


def test_bad_env_is_ignored_when_the_flag_is_given() -> None:
    """The environment is not even converted when a flag decides."""
    assert parse(["--port", "1"], {"APP_PORT": "garbage"})["port"] == 1


def test_unknown_flag_is_a_config_error() -> None:
    """An unknown flag raises ConfigError instead of exiting."""
    with pytest.raises(ConfigError) as info:
        parse(["--nope", "1"])
    assert info.value.key == "arguments"


def test_repeatable_flag_collects_a_tuple() -> None:
    """A repeatable flag given several times yields every value in order."""
    assert parse(["--peer", "a", "--peer", " b "])["peers"] == ("a", "b")


def test_repeatable_env_is_comma_separated() -> None:
    """The variable form of a repeatable option is a comma-separated list."""
    assert parse([], {"APP_PEERS": " a, b ,,c "})["peers"] == ("a", "b", "c")


def test_repeatable_flag_beats_env() -> None:
    """Flags replace, not extend, the environment's list."""
    assert parse(["--peer", "x"], {"APP_PEERS": "a,b"})["peers"] == ("x",)


def test_repeatable_bad_item_names_the_source() -> None:
    """One bad item of a repeated flag is reported against the flag."""
    with pytest.raises(ConfigError) as info:
        parse(["--peer", "a", "--peer", "  "])
    assert info.value.key == "--peer"


# ------------------------------------------------------------------ converters


@pytest.mark.parametrize(
    ("convert", "raw", "expected"),
    [
        (o.text, "  hi  ", "hi"),
        (o.port, "0", 0),
        (o.port, "65535", 65535),
        (o.positive_int, "1", 1),
        (o.positive_float, "0.5", 0.5),
        (o.positive_float, "1e3", 1000.0),
        (o.non_negative_float, "0", 0.0),
        (o.fraction, "1", 1.0),
        (o.fraction, "0.001", 0.001),
        (o.http_url, "http://127.0.0.1:8001/", "http://127.0.0.1:8001"),
        (o.http_url, " https://auth.example ", "https://auth.example"),
        (o.http_url, "https://auth.example/base//", "https://auth.example/base"),
        (o.log_level, "debug", "DEBUG"),
        (o.log_level, " Warning ", "WARNING"),
        (o.choice("ES256", "EdDSA"), " EdDSA ", "EdDSA"),
        (o.path, " /srv/keys ", Path("/srv/keys")),
        (o.path, "~/keys", Path("~/keys").expanduser()),
    ],
)
def test_converters_accept(convert: Callable[[str], Any], raw: str, expected: Any) -> None:
    """Each converter returns the normalized value for good input."""
    assert convert(raw) == expected


@pytest.mark.parametrize(
    ("convert", "raw"),
    [
        (o.text, ""),
        (o.text, "   "),
        (o.port, "-1"),
        (o.port, "65536"),
        (o.port, "80.0"),
        (o.port, "http"),
        (o.port, ""),
        (o.positive_int, "0"),
        (o.positive_int, "-3"),
        (o.positive_int, "1.5"),
        (o.positive_int, "many"),
        (o.positive_float, "0"),
        (o.positive_float, "-0.1"),
        (o.positive_float, "nan"),
        (o.positive_float, "inf"),
        (o.positive_float, "soon"),
        (o.non_negative_float, "-1"),
        (o.non_negative_float, "-inf"),
        (o.non_negative_float, "NaN"),
        (o.fraction, "0"),
        (o.fraction, "1.01"),
        (o.fraction, "-0.5"),
        (o.fraction, "nan"),
        (o.http_url, "ftp://host"),
        (o.http_url, "127.0.0.1:8001"),
        (o.http_url, "http://"),
        (o.http_url, "http://:80"),
        (o.http_url, "http://host:99999"),
        (o.http_url, "http://host:port"),
        (o.http_url, ""),
        (o.log_level, "trace"),
        (o.log_level, "CRITICAL"),
        (o.log_level, ""),
        (o.choice("ES256", "EdDSA"), "es256"),
        (o.choice("ES256", "EdDSA"), "HS256"),
        (o.path, " "),
    ],
)
def test_converters_reject(convert: Callable[[str], Any], raw: str) -> None:
    """Each converter raises ValueError (never another error) for bad input."""
    with pytest.raises(ValueError, match=r"\S"):
        convert(raw)


# ------------------------------------------------------------------ auth settings


def test_auth_defaults() -> None:
    """With nothing set, auth gets the documented defaults."""
    assert parse_auth_settings([], {}) == AuthSettings()


def test_auth_flag_beats_env_beats_default() -> None:
    """Flags, then AUTHDRILL_AUTH_* variables, then defaults decide each value."""
    settings = parse_auth_settings(
        ["--port", "9001", "--access-ttl", "60"],
        {
            "AUTHDRILL_AUTH_PORT": "9999",
            "AUTHDRILL_AUTH_ALGORITHM": "EdDSA",
            "AUTHDRILL_ISSUER": "https://issuer.example",
        },
    )
    assert settings.port == 9001
    assert settings.access_ttl_s == 60.0
    assert settings.algorithm == "EdDSA"
    assert settings.issuer == "https://issuer.example"
    assert settings.audience == AuthSettings().audience


def test_auth_passes_hash_and_throttle_settings_through() -> None:
    """Argon2 and login-throttle options land in their policies."""
    settings = parse_auth_settings(
        [
            "--argon2-memory-kib",
            "12288",
            "--argon2-time-cost",
            "3",
            "--login-failures-per-account-client",
            "3",
            "--login-failure-window",
            "60",
            "--login-failures-per-client",
            "50",
        ],
        {},
    )
    assert (settings.hash_policy.memory_kib, settings.hash_policy.time_cost) == (12288, 3)
    throttle = settings.throttle
    assert (throttle.pair_failures, throttle.pair_window_s, throttle.client_failures) == (
        3,
        60.0,
        50,
    )


@pytest.mark.parametrize(
    ("memory", "time_cost"), [("19455", "2"), ("19456", "1"), ("12288", "2"), ("7168", "4")]
)
def test_auth_rejects_argon2_below_owasp(memory: str, time_cost: str) -> None:
    """Argon2 costs below every OWASP configuration are refused."""
    with pytest.raises(ConfigError, match="OWASP") as info:
        parse_auth_settings(["--argon2-memory-kib", memory, "--argon2-time-cost", time_cost], {})
    assert "--argon2-memory-kib" in info.value.key


def test_auth_rejects_refresh_ttl_shorter_than_access_ttl() -> None:
    """A session shorter than one access token is a configuration error."""
    with pytest.raises(ConfigError) as info:
        parse_auth_settings(["--access-ttl", "900", "--refresh-ttl", "899"], {})
    assert info.value.key == "--refresh-ttl"
    assert (
        parse_auth_settings(["--access-ttl", "900", "--refresh-ttl", "900"], {}).refresh_ttl_s
        == 900
    )


def test_auth_trusted_proxies_flag_and_env_forms() -> None:
    """--trusted-proxy repeats; the variable is comma-separated."""
    from_flags = parse_auth_settings(
        ["--trusted-proxy", "10.0.0.1", "--trusted-proxy", "10.0.0.2"], {}
    )
    from_env = parse_auth_settings([], {"AUTHDRILL_AUTH_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2"})
    assert from_flags.trusted_proxies == from_env.trusted_proxies == ("10.0.0.1", "10.0.0.2")


@pytest.mark.parametrize(
    ("argv", "environ", "key"),
    [
        (["--algorithm", "HS256"], {}, "--algorithm"),
        ([], {"AUTHDRILL_AUTH_ALGORITHM": "none"}, "AUTHDRILL_AUTH_ALGORITHM"),
        ([], {"AUTHDRILL_AUTH_ACCESS_TTL": "0"}, "AUTHDRILL_AUTH_ACCESS_TTL"),
        (["--argon2-time-cost", "0"], {}, "--argon2-time-cost"),
        ([], {"AUTHDRILL_AUDIENCE": " "}, "AUTHDRILL_AUDIENCE"),
        (["--log-level", "loud"], {}, "--log-level"),
    ],
)
def test_auth_bad_values_name_their_source(
    argv: list[str], environ: dict[str, str], key: str
) -> None:
    """Each bad auth value is reported against the flag or variable it came from."""
    with pytest.raises(ConfigError) as info:
        parse_auth_settings(argv, environ)
    assert info.value.key == key


# ------------------------------------------------------------------ backend settings


def test_backend_defaults() -> None:
    """With nothing set, the backend gets the documented defaults."""
    settings = parse_backend_settings([], {})
    assert settings == BackendSettings()
    assert settings.keys.refresh_interval_s == 300.0
    assert settings.breaker.window_size == 20


def test_backend_flag_beats_env_beats_default() -> None:
    """Flags, then variables, then defaults; values reach the nested policies."""
    settings = parse_backend_settings(
        ["--auth-url", "http://auth.internal:9001/", "--jwks-refresh-interval", "30"],
        {
            "AUTHDRILL_AUTH_URL": "http://ignored:1",
            "AUTHDRILL_BACKEND_JWKS_UNKNOWN_KID_COOLDOWN": "2.5",
            "AUTHDRILL_BACKEND_BREAKER_TRIAL_CALLS": "3",
        },
    )
    assert settings.auth_url == "http://auth.internal:9001"
    assert settings.keys.refresh_interval_s == 30.0
    assert settings.keys.unknown_kid_cooldown_s == 2.5
    assert settings.breaker.half_open_permits == 3


def test_backend_rejects_minimum_calls_over_window() -> None:
    """The breaker cannot require more calls than its window holds."""
    with pytest.raises(ConfigError) as info:
        parse_backend_settings(["--breaker-minimum-calls", "21", "--breaker-window", "20"], {})
    assert info.value.key == "--breaker-minimum-calls"
    settings = parse_backend_settings(
        ["--breaker-minimum-calls", "20", "--breaker-window", "20"], {}
    )
    assert settings.breaker.minimum_calls == 20


def test_backend_rejects_open_wait_max_below_open_wait() -> None:
    """The longest breaker wait may not be shorter than the first."""
    with pytest.raises(ConfigError) as info:
        parse_backend_settings(["--breaker-open-wait", "5", "--breaker-open-wait-max", "4"], {})
    assert info.value.key == "--breaker-open-wait-max"


@pytest.mark.parametrize(
    ("argv", "environ", "key"),
    [
        (["--auth-url", "auth:8001"], {}, "--auth-url"),
        ([], {"AUTHDRILL_AUTH_URL": "file:///etc/passwd"}, "AUTHDRILL_AUTH_URL"),
        (["--breaker-failure-rate", "1.5"], {}, "--breaker-failure-rate"),
        ([], {"AUTHDRILL_BACKEND_TOKEN_CACHE_SIZE": "0"}, "AUTHDRILL_BACKEND_TOKEN_CACHE_SIZE"),
        (["--port", "-1"], {}, "--port"),
    ],
)
def test_backend_bad_values_name_their_source(
    argv: list[str], environ: dict[str, str], key: str
) -> None:
    """Each bad backend value is reported against the flag or variable it came from."""
    with pytest.raises(ConfigError) as info:
        parse_backend_settings(argv, environ)
    assert info.value.key == key


def test_backend_staleness_below_refresh_names_the_flag() -> None:
    """--jwks-max-staleness below --jwks-refresh-interval is reported against the flag."""
    with pytest.raises(ConfigError) as info:
        parse_backend_settings(["--jwks-max-staleness", "10"], {})
    assert info.value.key == "--jwks-max-staleness"
