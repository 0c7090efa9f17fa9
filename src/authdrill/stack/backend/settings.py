"""Settings of the backend service, from flags and ``AUTHDRILL_BACKEND_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from authdrill.errors import ConfigError
from authdrill.stack import options as o
from authdrill.stack.auth.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from authdrill.stack.backend.breaker import BreakerPolicy
from authdrill.stack.backend.keyset import KeySetPolicy
from authdrill.stack.db import default_sqlite_url

__all__ = ["BackendSettings", "parse_backend_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendSettings:
    """Everything the backend needs to start (times in seconds)."""

    host: str = "127.0.0.1"
    port: int = 8002
    data_dir: Path = Path(".authdrill/backend")
    database_url: str | None = None
    auth_url: str = "http://127.0.0.1:8001"
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    max_token_lifetime_s: float = 3600.0
    clock_leeway_s: float = 30.0
    keys: KeySetPolicy = field(default_factory=KeySetPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    auth_connect_timeout_s: float = 1.0
    auth_timeout_s: float = 5.0
    revocation_poll_s: float = 1.0
    token_cache_size: int = 100_000
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/backend.db``."""
        return self.database_url or default_sqlite_url(self.data_dir, "backend")


_E = "AUTHDRILL_BACKEND_"
OPTIONS = (
    o.Option("host", "--host", _E + "HOST", o.text, "127.0.0.1", "address to listen on"),
    o.Option("port", "--port", _E + "PORT", o.port, 8002, "port to listen on (0 = any free)"),
    o.Option("data_dir", "--data-dir", _E + "DATA_DIR", o.path, Path(".authdrill/backend"),
             "directory for the key-set cache and the default SQLite database"),
    o.Option("database_url", "--database-url", _E + "DATABASE_URL", o.text, None,
             "sqlite:///path or postgresql://user:pass@host/db (default: SQLite in data dir)"),
    o.Option("auth_url", "--auth-url", "AUTHDRILL_AUTH_URL", o.http_url, "http://127.0.0.1:8001",
             "base URL of the auth service"),
    o.Option("issuer", "--issuer", "AUTHDRILL_ISSUER", o.text, DEFAULT_ISSUER,
             "required token issuer (iss)"),
    o.Option("audience", "--audience", "AUTHDRILL_AUDIENCE", o.text, DEFAULT_AUDIENCE,
             "required token audience (aud)"),
    o.Option("max_token_lifetime_s", "--max-token-lifetime", _E + "MAX_TOKEN_LIFETIME",
             o.positive_float, 3600.0, "longest access-token lifetime accepted, seconds"),
    o.Option("clock_leeway_s", "--clock-leeway", "AUTHDRILL_CLOCK_LEEWAY", o.non_negative_float,
             30.0, "clock skew tolerated on exp/iat/nbf, seconds"),
    o.Option("jwks_refresh_s", "--jwks-refresh-interval", _E + "JWKS_REFRESH_INTERVAL",
             o.positive_float, 300.0, "how often the key set is refreshed, seconds"),
    o.Option("jwks_max_stale_s", "--jwks-max-staleness", _E + "JWKS_MAX_STALENESS",
             o.positive_float, 86400.0, "oldest key set still trusted when auth is down, seconds"),
    o.Option("jwks_cooldown_s", "--jwks-unknown-kid-cooldown", _E + "JWKS_UNKNOWN_KID_COOLDOWN",
             o.positive_float, 10.0, "least time between refreshes caused by unknown kids"),
    o.Option("auth_connect_timeout_s", "--auth-connect-timeout", _E + "AUTH_CONNECT_TIMEOUT",
             o.positive_float, 1.0, "connect timeout towards auth, seconds"),
    o.Option("auth_timeout_s", "--auth-timeout", _E + "AUTH_TIMEOUT", o.positive_float, 5.0,
             "whole-request timeout towards auth, seconds"),
    o.Option("revocation_poll_s", "--revocation-poll-interval", _E + "REVOCATION_POLL_INTERVAL",
             o.positive_float, 1.0, "how often the revocation feed is polled, seconds"),
    o.Option("token_cache_size", "--token-cache-size", _E + "TOKEN_CACHE_SIZE", o.positive_int,
             100_000, "verified tokens kept in memory"),
    o.Option("breaker_minimum_calls", "--breaker-minimum-calls", _E + "BREAKER_MINIMUM_CALLS",
             o.positive_int, 5, "calls in the window before the breaker may open"),
    o.Option("breaker_window", "--breaker-window", _E + "BREAKER_WINDOW", o.positive_int, 20,
             "calls in the breaker's sliding window"),
    o.Option("breaker_failure_rate", "--breaker-failure-rate", _E + "BREAKER_FAILURE_RATE",
             o.fraction, 0.5, "failure rate that opens the breaker"),
    o.Option("breaker_slow_call_s", "--breaker-slow-call", _E + "BREAKER_SLOW_CALL",
             o.positive_float, 1.0, "a call at least this long counts as slow, seconds"),
    o.Option("breaker_slow_rate", "--breaker-slow-call-rate", _E + "BREAKER_SLOW_CALL_RATE",
             o.fraction, 0.8, "slow-call rate that opens the breaker"),
    o.Option("breaker_open_wait_s", "--breaker-open-wait", _E + "BREAKER_OPEN_WAIT",
             o.positive_float, 0.5, "first wait before trial calls, seconds"),
    o.Option("breaker_open_wait_max_s", "--breaker-open-wait-max", _E + "BREAKER_OPEN_WAIT_MAX",
             o.positive_float, 4.0, "longest wait before trial calls, seconds"),
    o.Option("breaker_half_open_permits", "--breaker-trial-calls", _E + "BREAKER_TRIAL_CALLS",
             o.positive_int, 2, "trial calls in half-open; all must succeed to close"),
    o.Option("log_level", "--log-level", _E + "LOG_LEVEL", o.log_level, "INFO", "log level"),
)  # fmt: skip


_POLICY_FLAGS = {
    "refresh_interval_s": "--jwks-refresh-interval",
    "max_staleness_s": "--jwks-max-staleness",
    "unknown_kid_cooldown_s": "--jwks-unknown-kid-cooldown",
    "window_size": "--breaker-window",
    "minimum_calls": "--breaker-minimum-calls",
    "failure_rate_threshold": "--breaker-failure-rate",
    "slow_call_duration_s": "--breaker-slow-call",
    "slow_call_rate_threshold": "--breaker-slow-call-rate",
    "open_wait_s": "--breaker-open-wait",
    "open_wait_max_s": "--breaker-open-wait-max",
    "half_open_permits": "--breaker-trial-calls",
}


def parse_backend_settings(argv: Sequence[str], environ: Mapping[str, str]) -> BackendSettings:
    """Build :class:`BackendSettings` from ``argv`` and ``environ``.

    Raises:
        ConfigError: a bad value, naming the flag and variable.
    """
    v = o.parse_options(
        "authdrill serve backend", "Run the authdrill backend service.", OPTIONS, argv, environ
    )
    if v["breaker_minimum_calls"] > v["breaker_window"]:
        raise ConfigError("--breaker-minimum-calls", "must not exceed --breaker-window")
    if v["breaker_open_wait_max_s"] < v["breaker_open_wait_s"]:
        raise ConfigError("--breaker-open-wait-max", "must be at least --breaker-open-wait")
    try:
        keys = KeySetPolicy(
            refresh_interval_s=v["jwks_refresh_s"],
            max_staleness_s=v["jwks_max_stale_s"],
            unknown_kid_cooldown_s=v["jwks_cooldown_s"],
        )
        breaker = BreakerPolicy(
            window_size=v["breaker_window"],
            minimum_calls=v["breaker_minimum_calls"],
            failure_rate_threshold=v["breaker_failure_rate"],
            slow_call_duration_s=v["breaker_slow_call_s"],
            slow_call_rate_threshold=v["breaker_slow_rate"],
            open_wait_s=v["breaker_open_wait_s"],
            open_wait_max_s=v["breaker_open_wait_max_s"],
            half_open_permits=v["breaker_half_open_permits"],
        )
    except ConfigError as exc:  # name the flag, not the policy's field
        raise ConfigError(_POLICY_FLAGS.get(exc.key, exc.key), exc.problem) from exc
    return BackendSettings(
        host=v["host"],
        port=v["port"],
        data_dir=v["data_dir"],
        database_url=v["database_url"],
        auth_url=v["auth_url"],
        issuer=v["issuer"],
        audience=v["audience"],
        max_token_lifetime_s=v["max_token_lifetime_s"],
        clock_leeway_s=v["clock_leeway_s"],
        keys=keys,
        breaker=breaker,
        auth_connect_timeout_s=v["auth_connect_timeout_s"],
        auth_timeout_s=v["auth_timeout_s"],
        revocation_poll_s=v["revocation_poll_s"],
        token_cache_size=v["token_cache_size"],
        log_level=v["log_level"],
    )
