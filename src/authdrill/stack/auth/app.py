"""The auth service's HTTP surface and lifecycle.

=================================  ===================================================
``POST /register``                 ``{"username", "password"}`` → 201 ``{"user_id"}``
``POST /login``                    ``{"username", "password"}`` → 200 token pair
``POST /refresh``                  ``{"refresh_token"}`` → 200 new token pair
``POST /logout``                   ``{"refresh_token"}`` or ``Bearer`` → 204
``GET /.well-known/jwks.json``     public keys, ``Cache-Control`` and ``ETag``
``GET /revocations?after=N``       revoked sessions after cursor ``N``
``GET /health/live``               the process answers
``GET /health/ready``              the database answers
``GET /metrics``                   Prometheus text format
=================================  ===================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from prometheus_client import Counter, Gauge
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authdrill.errors import InvalidTokenError, KeyStoreError
from authdrill.stack.auth.authority import (
    Authority,
    InvalidCredentials,
    InvalidGrant,
    RegistrationRefused,
    Throttled,
    load_feed_id,
)
from authdrill.stack.auth.keyring import load_or_create, reload_if_changed
from authdrill.stack.auth.passwords import MAX_PASSWORD_LENGTH, Hasher, HasherBusy
from authdrill.stack.auth.schema import SCHEMA_VERSION, metadata
from authdrill.stack.auth.settings import AuthSettings
from authdrill.stack.auth.throttle import LoginThrottle
from authdrill.stack.db import Database, open_database
from authdrill.stack.http import (
    Problem,
    error_response,
    exception_handlers,
    json_response,
    read_json_object,
    string_field,
)
from authdrill.stack.metrics import HttpMetricsMiddleware, metrics_endpoint, new_registry

__all__ = ["AuthService", "client_address", "open_auth"]

JWKS_MAX_AGE_S = 300
FEED_PAGE_LIMIT = 1000
_PRUNE_INTERVAL_S = 60.0
log = logging.getLogger("authdrill.auth")


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The client's address: the peer, or the last X-Forwarded-For hop of a trusted peer."""
    address = peer or "unknown"
    if forwarded_for and address in trusted:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return address


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class _Metrics:
    def __init__(self, authority: Authority) -> None:
        self.registry = new_registry()
        self.logins = Counter(
            "authdrill_auth_logins",
            "Login attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.refreshes = Counter(
            "authdrill_auth_refreshes", "Refreshes by outcome.", ["outcome"], registry=self.registry
        )
        pending = Gauge(
            "authdrill_auth_hashes_pending",
            "Password hashes queued or running.",
            registry=self.registry,
        )
        pending.set_function(lambda: authority.hasher.pending)
        keys = Gauge("authdrill_auth_published_keys", "Keys in the JWKS.", registry=self.registry)
        keys.set_function(
            lambda: len(
                authority.keyring.published(
                    now=time.time(), retire_after_s=authority.retire_after_s
                )
            )
        )


class AuthService:
    """The running auth service: its resources, background tasks and ASGI app."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.settings = authority.settings
        self._metrics = _Metrics(authority)
        self._jwks_cache: tuple[int, bytes, str] | None = None
        self.app = Starlette(
            routes=self._routes(),
            middleware=[
                Middleware(HttpMetricsMiddleware, registry=self._metrics.registry, service="auth")
            ],
            exception_handlers=exception_handlers(),
            lifespan=self._lifespan,
        )

    def _routes(self) -> list[Route]:
        return [
            Route("/register", self.register, methods=["POST"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/refresh", self.refresh, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/.well-known/jwks.json", self.jwks, methods=["GET"]),
            Route("/revocations", self.revocations, methods=["GET"]),
            Route("/health/live", self.live, methods=["GET"]),
            Route("/health/ready", self.ready, methods=["GET"]),
            Route("/metrics", metrics_endpoint(self._metrics.registry), methods=["GET"]),
        ]

    # ------------------------------------------------------------------ lifecycle
    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(self._every(self.settings.key_reload_s, self._reload_keys)),
            asyncio.create_task(self._every(_PRUNE_INTERVAL_S, self._prune)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    async def _every(interval_s: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)  # a schedule, not a settle: the job's own period
            await job()

    async def _reload_keys(self) -> None:
        try:
            ring = await asyncio.to_thread(reload_if_changed, self.authority.keyring)
        except KeyStoreError:
            log.exception("key reload failed; still signing with the keys loaded before")
            return
        if ring is not self.authority.keyring:
            log.info("keyring reloaded; current key %s", ring.current.kid)
            self.authority.keyring = ring

    async def _prune(self) -> None:
        removed = await self.authority.prune()
        if removed:
            log.info("pruned %d expired revocations", removed)

    async def aclose(self) -> None:
        """Close the database and stop the hashing threads."""
        self.authority.hasher.close()
        await self.authority.db.close()

    # ------------------------------------------------------------------ accounts
    async def register(self, request: Request) -> Response:
        body = await read_json_object(request)
        username = string_field(body, "username", max_length=64)
        password = string_field(body, "password", max_length=MAX_PASSWORD_LENGTH)
        try:
            user_id = await self.authority.register(username, password)
        except RegistrationRefused as exc:
            status = 409 if exc.code == "username_taken" else 400
            return error_response(status, exc.code, "; ".join(exc.problems))
        except HasherBusy:
            return _busy()
        return json_response({"user_id": user_id, "username": username.strip().lower()}, 201)

    async def login(self, request: Request) -> Response:
        body = await read_json_object(request)
        username = string_field(body, "username", max_length=256)
        password = string_field(body, "password", max_length=4096)
        client = client_address(
            request.client.host if request.client else None,
            request.headers.get("x-forwarded-for"),
            self.settings.trusted_proxies,
        )
        try:
            pair = await self.authority.login(username, password, client=client)
        except InvalidCredentials:
            self._metrics.logins.labels("invalid_credentials").inc()
            return error_response(401, "invalid_credentials", "invalid username or password")
        except Throttled as exc:
            self._metrics.logins.labels("throttled").inc()
            return error_response(
                429,
                "too_many_attempts",
                "too many failed logins; try again later",
                {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
            )
        except HasherBusy:
            self._metrics.logins.labels("overloaded").inc()
            return _busy()
        self._metrics.logins.labels("ok").inc()
        return json_response(pair.as_json(), headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ tokens
    async def refresh(self, request: Request) -> Response:
        body = await read_json_object(request)
        token = string_field(body, "refresh_token", max_length=512)
        try:
            pair = await self.authority.refresh(token)
        except InvalidGrant as exc:
            self._metrics.refreshes.labels(exc.code).inc()
            return error_response(401, exc.code, str(exc))
        self._metrics.refreshes.labels("ok").inc()
        return json_response(pair.as_json(), headers={"Cache-Control": "no-store"})

    async def logout(self, request: Request) -> Response:
        bearer = _bearer(request)
        if bearer is not None:
            try:
                await self.authority.logout_access(bearer)
            except InvalidTokenError as exc:
                return error_response(
                    401,
                    "invalid_token",
                    exc.reason,
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            return Response(status_code=204)
        body = await read_json_object(request)
        await self.authority.logout_refresh(string_field(body, "refresh_token", max_length=512))
        return Response(status_code=204)

    async def jwks(self, request: Request) -> Response:
        ring = self.authority.keyring
        now = time.time()
        published = ring.published(now=now, retire_after_s=self.authority.retire_after_s)
        version = hash((ring.mtime_ns, tuple(r.kid for r in published)))
        if self._jwks_cache is None or self._jwks_cache[0] != version:
            doc = ring.jwks(now=now, retire_after_s=self.authority.retire_after_s)
            body = json.dumps(doc, separators=(",", ":")).encode()
            self._jwks_cache = (version, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        _, body, etag = self._jwks_cache
        headers = {
            "Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}, stale-if-error=86400",
            "ETag": etag,
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, headers=headers, media_type="application/json")

    async def revocations(self, request: Request) -> Response:
        raw = request.query_params.get("after", "0")
        if not raw.isdigit() or len(raw) > 18:  # noqa: PLR2004 - fits in a signed 64-bit int
            raise Problem(400, "invalid_request", "'after' must be a non-negative integer")
        page = await self.authority.revocations_after(int(raw), limit=FEED_PAGE_LIMIT)
        return json_response(
            {
                "feed_id": page.feed_id,
                "cursor": page.cursor,
                "more": page.more,
                "revoked": [{"sid": sid, "expires_at": exp} for sid, exp in page.entries],
            },
            headers={"Cache-Control": "no-store"},
        )

    # ------------------------------------------------------------------ health
    async def live(self, _request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(self, _request: Request) -> Response:
        problem = await self.authority.db.ping()
        if problem is not None:
            return json_response({"status": "unavailable", "database": problem}, 503)
        return json_response({"status": "ok", "database": "ok"})


def _busy() -> Response:
    return error_response(503, "overloaded", "auth is busy; try again", {"Retry-After": "1"})


async def open_auth(
    settings: AuthSettings, *, clock: Callable[[], float] = time.time
) -> AuthService:
    """Load keys and open the database, then build the service.

    Raises:
        KeyStoreError: the keys cannot be loaded or created.
        DatabaseError: the database cannot be opened.
    """
    keyring = await asyncio.to_thread(
        load_or_create, settings.data_dir / "keys", alg=settings.algorithm
    )
    db: Database = await open_database(
        settings.resolved_database_url, metadata, schema_version=SCHEMA_VERSION
    )
    try:
        feed_id = await load_feed_id(db)
    except BaseException:
        await db.close()
        raise
    authority = Authority(
        db=db,
        keyring=keyring,
        hasher=Hasher(settings.hash_policy),
        throttle=LoginThrottle(settings.throttle, clock=time.monotonic),
        settings=settings,
        feed_id=feed_id,
        clock=clock,
    )
    log.info(
        "signing with key %s (%s); database %s", keyring.current.kid, keyring.current.alg, db.url
    )
    return AuthService(authority)
