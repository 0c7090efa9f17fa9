"""Settings of the auth service, from flags and ``AUTHDRILL_AUTH_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from authdrill.errors import ConfigError
from authdrill.stack import options as o
from authdrill.stack.auth.passwords import HashPolicy
from authdrill.stack.auth.throttle import ThrottlePolicy
from authdrill.stack.db import default_sqlite_url

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "AuthSettings", "parse_auth_settings"]

DEFAULT_ISSUER = "authdrill-auth"
DEFAULT_AUDIENCE = "authdrill-backend"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    """Everything the auth service needs to start (times in seconds)."""

    host: str = "127.0.0.1"
    port: int = 8001
    data_dir: Path = Path(".authdrill/auth")
    database_url: str | None = None
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    access_ttl_s: float = 900.0
    refresh_ttl_s: float = 14 * 24 * 3600.0
    clock_leeway_s: float = 30.0
    algorithm: str = "ES256"
    hash_policy: HashPolicy = HashPolicy()  # noqa: RUF009 - frozen, so sharing is safe
    throttle: ThrottlePolicy = ThrottlePolicy()  # noqa: RUF009 - frozen, so sharing is safe
    trusted_proxies: tuple[str, ...] = ()
    key_reload_s: float = 1.0
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/auth.db``."""
        return self.database_url or default_sqlite_url(self.data_dir, "auth")


_E = "AUTHDRILL_AUTH_"
OPTIONS = (
    o.Option("host", "--host", _E + "HOST", o.text, "127.0.0.1", "address to listen on"),
    o.Option("port", "--port", _E + "PORT", o.port, 8001, "port to listen on (0 = any free)"),
    o.Option("data_dir", "--data-dir", _E + "DATA_DIR", o.path, Path(".authdrill/auth"),
             "directory for keys and the default SQLite database"),
    o.Option("database_url", "--database-url", _E + "DATABASE_URL", o.text, None,
             "sqlite:///path or postgresql://user:pass@host/db (default: SQLite in data dir)"),
    o.Option("issuer", "--issuer", "AUTHDRILL_ISSUER", o.text, DEFAULT_ISSUER,
             "token issuer (iss)"),
    o.Option("audience", "--audience", "AUTHDRILL_AUDIENCE", o.text, DEFAULT_AUDIENCE,
             "token audience (aud)"),
    o.Option("access_ttl_s", "--access-ttl", _E + "ACCESS_TTL", o.positive_float, 900.0,
             "access-token lifetime, seconds"),
    o.Option("refresh_ttl_s", "--refresh-ttl", _E + "REFRESH_TTL", o.positive_float,
             14 * 24 * 3600.0, "refresh-token (session) lifetime, seconds"),
    o.Option("clock_leeway_s", "--clock-leeway", "AUTHDRILL_CLOCK_LEEWAY", o.non_negative_float,
             30.0, "clock skew tolerated on exp/iat/nbf, seconds"),
    o.Option("algorithm", "--algorithm", _E + "ALGORITHM", o.choice("ES256", "EdDSA", "RS256"),
             "ES256", "signature algorithm of newly generated keys"),
    o.Option("argon2_memory_kib", "--argon2-memory-kib", _E + "ARGON2_MEMORY_KIB", o.positive_int,
             19456, "Argon2id memory cost, KiB (must meet OWASP with the time cost)"),
    o.Option("argon2_time_cost", "--argon2-time-cost", _E + "ARGON2_TIME_COST", o.positive_int, 2,
             "Argon2id iterations"),
    o.Option("pair_failures", "--login-failures-per-account-client",
             _E + "LOGIN_FAILURES_PER_ACCOUNT_CLIENT", o.positive_int, 5,
             "failed logins allowed per (account, client) per window"),
    o.Option("pair_window_s", "--login-failure-window", _E + "LOGIN_FAILURE_WINDOW",
             o.positive_float, 900.0, "window for the per-(account, client) limit, seconds"),
    o.Option("client_failures", "--login-failures-per-client", _E + "LOGIN_FAILURES_PER_CLIENT",
             o.positive_int, 100, "failed logins allowed per client address per minute"),
    o.Option("trusted_proxies", "--trusted-proxy", _E + "TRUSTED_PROXIES", o.text, (),
             "peer address whose X-Forwarded-For is believed (repeatable)", repeat=True),
    o.Option("key_reload_s", "--key-reload-interval", _E + "KEY_RELOAD_INTERVAL",
             o.positive_float, 1.0, "how often to look for rotated keys, seconds"),
    o.Option("log_level", "--log-level", _E + "LOG_LEVEL", o.log_level, "INFO", "log level"),
)  # fmt: skip


def parse_auth_settings(argv: Sequence[str], environ: Mapping[str, str]) -> AuthSettings:
    """Build :class:`AuthSettings` from ``argv`` and ``environ``.

    Raises:
        ConfigError: a bad value, naming the flag and variable.
    """
    v = o.parse_options(
        "authdrill serve auth", "Run the authdrill auth service.", OPTIONS, argv, environ
    )
    hash_policy = HashPolicy(memory_kib=v["argon2_memory_kib"], time_cost=v["argon2_time_cost"])
    if not hash_policy.meets_owasp():
        raise ConfigError(
            "--argon2-memory-kib/--argon2-time-cost",
            f"m={hash_policy.memory_kib} KiB, t={hash_policy.time_cost} is below the OWASP "
            "minimum (m=19456,t=2; m=12288,t=3; m=9216,t=4; m=7168,t=5; m=47104,t=1)",
        )
    if v["refresh_ttl_s"] < v["access_ttl_s"]:
        raise ConfigError("--refresh-ttl", "must be at least the access-token lifetime")
    return AuthSettings(
        host=v["host"],
        port=v["port"],
        data_dir=v["data_dir"],
        database_url=v["database_url"],
        issuer=v["issuer"],
        audience=v["audience"],
        access_ttl_s=v["access_ttl_s"],
        refresh_ttl_s=v["refresh_ttl_s"],
        clock_leeway_s=v["clock_leeway_s"],
        algorithm=v["algorithm"],
        hash_policy=hash_policy,
        throttle=ThrottlePolicy(
            pair_failures=v["pair_failures"],
            pair_window_s=v["pair_window_s"],
            client_failures=v["client_failures"],
        ),
        trusted_proxies=v["trusted_proxies"],
        key_reload_s=v["key_reload_s"],
        log_level=v["log_level"],
    )
