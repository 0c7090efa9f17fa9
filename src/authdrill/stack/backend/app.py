"""The backend service's HTTP surface and lifecycle.

=================================  ===================================================
``GET /api/me``                    the caller's identity, from the verified token
``POST /api/notes``                ``{"text"}`` → 201 note (committed before the reply)
``GET /api/notes?after=&limit=``   the caller's notes, oldest first
``POST /api/login``                proxied to auth's ``/login`` through the breaker
``POST /api/refresh``              proxied to auth's ``/refresh`` through the breaker
``WS /ws``                         see :mod:`authdrill.stack.backend.ws`
``GET /health/live``               the process answers
``GET /health/ready``              the backend's own database answers (never auth)
``GET /health``                    JSON: status, database, breaker, key set, feed
``GET /metrics``                   Prometheus text format
=================================  ===================================================

When auth is unreachable or the breaker is open, the proxied routes answer ``503`` with
``Retry-After`` and a JSON error at once; authenticated routes keep working from the
local key set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from authdrill.errors import InvalidTokenError
from authdrill.stack.backend.auth_client import AuthClient, AuthUnavailable
from authdrill.stack.backend.backend_metrics import BackendMetrics
from authdrill.stack.backend.guard import Guard
from authdrill.stack.backend.key_source import KeySource
from authdrill.stack.backend.notes import MAX_NOTE_LENGTH, add_note, list_notes
from authdrill.stack.backend.revocation_feed import RevocationFeed
from authdrill.stack.backend.revocation_set import RevocationSet
from authdrill.stack.backend.schema import SCHEMA_VERSION, metadata
from authdrill.stack.backend.settings import BackendSettings
from authdrill.stack.backend.token_cache import TokenCache
from authdrill.stack.backend.verifier import KeysUnavailable, Verifier
from authdrill.stack.backend.ws import SocketRegistry, WebSocketEndpoint, bearer_token
from authdrill.stack.claims import AccessClaims, ClaimPolicy
from authdrill.stack.db import Database, open_database
from authdrill.stack.http import (
    Problem,
    error_response,
    exception_handlers,
    json_response,
    parse_json_object,
    read_body,
    read_json_object,
    string_field,
)
from authdrill.stack.metrics import HttpMetricsMiddleware, metrics_endpoint

__all__ = ["BackendService", "open_backend"]

log = logging.getLogger("authdrill.backend")
_MAX_PAGE = 1000
_WWW_AUTH = {"WWW-Authenticate": "Bearer"}


class BackendService:
    """The running backend: its parts, background tasks and ASGI app."""

    def __init__(
        self,
        *,
        settings: BackendSettings,
        db: Database,
        client: AuthClient,
        keys: KeySource,
        feed: RevocationFeed,
        verifier: Verifier,
        cache: TokenCache,
        registry: SocketRegistry,
        metrics: BackendMetrics,
    ) -> None:
        self.settings = settings
        self.db = db
        self.client = client
        self.keys = keys
        self.feed = feed
        self.verifier = verifier
        self.cache = cache
        self.sockets = registry
        self.metrics = metrics
        self.app = Starlette(
            routes=[
                Route("/api/me", self.me, methods=["GET"]),
                Route("/api/notes", self.create_note, methods=["POST"]),
                Route("/api/notes", self.get_notes, methods=["GET"]),
                Route("/api/login", self.login, methods=["POST"]),
                Route("/api/refresh", self.refresh, methods=["POST"]),
                WebSocketRoute(
                    "/ws", WebSocketEndpoint(verifier=verifier, db=db, registry=registry).handle
                ),
                Route("/health/live", self.live, methods=["GET"]),
                Route("/health/ready", self.ready, methods=["GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/metrics", metrics_endpoint(metrics.registry), methods=["GET"]),
            ],
            middleware=[
                Middleware(HttpMetricsMiddleware, registry=metrics.registry, service="backend")
            ],
            exception_handlers=exception_handlers(),
            lifespan=self._lifespan,
        )

    # ------------------------------------------------------------------ lifecycle
    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self.keys.run()), asyncio.create_task(self.feed.run())]
        self.client.guard.start_probe()
        try:
            yield
        finally:
            await self.client.guard.stop_probe()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Close the HTTP client and the database."""
        await self.client.aclose()
        await self.db.close()

    # ------------------------------------------------------------------ auth
    async def _claims(self, request: Request) -> AccessClaims:
        token = bearer_token(request.headers)
        if token is None:
            raise Problem(
                401, "missing_token", "send Authorization: Bearer <token>", headers=_WWW_AUTH
            )
        try:
            return self.verifier.cached(token) or await self.verifier.verify(token)
        except InvalidTokenError as exc:
            self.metrics.rejected_tokens.labels(exc.reason).inc()
            raise Problem(
                401,
                "invalid_token",
                exc.reason,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        except KeysUnavailable as exc:
            raise Problem(503, "keys_unavailable", str(exc), headers={"Retry-After": "5"}) from None

    # ------------------------------------------------------------------ API
    async def me(self, request: Request) -> Response:
        claims = await self._claims(request)
        return json_response(
            {"sub": claims.sub, "username": claims.username, "sid": claims.sid, "exp": claims.exp}
        )

    async def create_note(self, request: Request) -> Response:
        claims = await self._claims(request)
        body = await read_json_object(request)
        note = await add_note(
            self.db, claims.sub, string_field(body, "text", max_length=MAX_NOTE_LENGTH)
        )
        return json_response(note.as_json(), 201)

    async def get_notes(self, request: Request) -> Response:
        claims = await self._claims(request)
        after = _int_param(request, "after", 0, upper=2**62)
        limit = _int_param(request, "limit", 100, upper=_MAX_PAGE)
        found = await list_notes(self.db, claims.sub, after=after, limit=limit)
        return json_response(
            {
                "notes": [n.as_json() for n in found],
                "next_after": found[-1].id if len(found) == limit else None,
            }
        )

    async def login(self, request: Request) -> Response:
        return await self._proxy(request, "/login", "login")

    async def refresh(self, request: Request) -> Response:
        return await self._proxy(request, "/refresh", "refresh")

    async def _proxy(self, request: Request, path: str, name: str) -> Response:
        body = await read_body(request)
        parse_json_object(body)  # a malformed body is our 4xx, not auth's problem
        client = request.client.host if request.client else None
        try:
            upstream = await self.client.forward(path, body, client=client)
        except AuthUnavailable as exc:
            self.metrics.proxied.labels(name, f"unavailable_{exc.reason}").inc()
            return error_response(
                503,
                "auth_unavailable",
                "the login service is unavailable; try again later",
                {"Retry-After": str(exc.retry_after_s)},
            )
        self.metrics.proxied.labels(name, str(upstream.status_code)).inc()
        headers = {"Cache-Control": "no-store"}
        if "retry-after" in upstream.headers:
            headers["Retry-After"] = upstream.headers["retry-after"]
        return Response(
            upstream.content,
            status_code=upstream.status_code,
            headers=headers,
            media_type="application/json",
        )

    # ------------------------------------------------------------------ health
    async def live(self, _request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(self, _request: Request) -> Response:
        problem = await self.db.ping()
        if problem is not None:
            return json_response({"status": "unavailable", "database": problem}, 503)
        return json_response({"status": "ok", "database": "ok"})

    async def health(self, _request: Request) -> Response:
        db_problem = await self.db.ping()
        report = self.health_report(db_problem, now=time.time())
        return json_response(report, 503 if db_problem else 200)

    def health_report(self, db_problem: str | None, *, now: float) -> dict[str, Any]:
        """The ``/health`` document (see the module docstring)."""
        snapshot = self.client.guard.snapshot()
        keyset = self.keys.keyset
        keys_age = None if keyset is None else round(keyset.age(now), 3)
        keys_usable = keyset is not None and keyset.usable(self.keys.policy, now)
        feed_age = self.feed.age(now)
        degraded = (
            db_problem is not None
            or snapshot.state.value != "closed"
            or not keys_usable
            or keys_age is None
            or keys_age > 2 * self.keys.policy.refresh_interval_s
            or feed_age is None
            or feed_age > 10 * self.feed.interval_s
        )
        return {
            "status": "degraded" if degraded else "ok",
            "database": {
                "status": "ok" if db_problem is None else "unavailable",
                "problem": db_problem,
            },
            "breaker": {
                "state": snapshot.state.value,
                "retry_after_s": round(snapshot.retry_after_s, 3),
                "failure_rate": snapshot.failure_rate,
                "slow_call_rate": snapshot.slow_call_rate,
                "calls": snapshot.calls,
                "transitions": snapshot.transitions_total,
            },
            "keys": {
                "age_s": keys_age,
                "count": 0 if keyset is None else len(keyset.keys),
                "source": None if keyset is None else keyset.source,
                "usable": keys_usable,
                "max_staleness_s": self.keys.policy.max_staleness_s,
            },
            "revocations": {
                "age_s": None if feed_age is None else round(feed_age, 3),
                "sessions": len(self.feed.revoked),
                "poll_interval_s": self.feed.interval_s,
            },
            "websockets": self.sockets.count,
        }


def _int_param(request: Request, name: str, default: int, *, upper: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > upper:
        raise Problem(400, "invalid_request", f"{name!r} must be an integer in 0..{upper}")
    return int(raw)


async def open_backend(
    settings: BackendSettings,
    *,
    wall: Callable[[], float] = time.time,
    service_class: type[BackendService] = BackendService,
) -> BackendService:
    """Open the database and load persisted state, then build the service.

    Auth is *not* needed to start: the persisted key set and revocations are loaded
    from disk and the database, and the key set is fetched in the background.

    Raises:
        DatabaseError: the database cannot be opened.
    """
    db = await open_database(
        settings.resolved_database_url, metadata, schema_version=SCHEMA_VERSION
    )
    try:
        return await _assemble(settings, db, wall, service_class)
    except BaseException:
        await db.close()
        raise


async def _assemble(
    settings: BackendSettings,
    db: Database,
    wall: Callable[[], float],
    service_class: type[BackendService],
) -> BackendService:
    cache = TokenCache(settings.token_cache_size)
    registry = SocketRegistry()
    revoked = RevocationSet()
    metrics = BackendMetrics()

    async def probe() -> bool:  # bound late: the client needs the guard, the guard this
        return await client.probe()

    guard = Guard("auth", settings.breaker, on_transition=metrics.on_transition, probe=probe)
    client = AuthClient(
        settings.auth_url,
        guard,
        connect_timeout_s=settings.auth_connect_timeout_s,
        timeout_s=settings.auth_timeout_s,
    )
    keys = KeySource(
        client=client,
        policy=settings.keys,
        data_dir=settings.data_dir,
        on_change=cache.clear,
        wall=wall,
    )
    keys.load_persisted()

    def on_revoked(sids: set[str]) -> None:
        cache.drop_sessions(sids)
        closed = registry.revoke(sids)
        if closed:
            log.info("closing %d websockets of revoked sessions", closed)

    feed = RevocationFeed(
        client=client,
        revoked=revoked,
        db=db,
        interval_s=settings.revocation_poll_s,
        on_revoked=on_revoked,
        wall=wall,
    )
    await feed.load()
    verifier = Verifier(
        keys=keys,
        revoked=revoked,
        cache=cache,
        policy=ClaimPolicy(
            issuer=settings.issuer,
            audience=settings.audience,
            max_lifetime_s=settings.max_token_lifetime_s,
            leeway_s=settings.clock_leeway_s,
        ),
        wall=wall,
    )
    service = service_class(
        settings=settings,
        db=db,
        client=client,
        keys=keys,
        feed=feed,
        verifier=verifier,
        cache=cache,
        registry=registry,
        metrics=metrics,
    )
    metrics.bind(service)
    return service
