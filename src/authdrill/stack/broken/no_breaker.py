"""Broken: a login proxy without a circuit breaker, retrying on long timeouts.

When auth is down each login waits through retries with back-off (~3.5 s) and ends in a
502: users stare at a spinner, connections pile up, nothing fails fast, and there is no
breaker to report. The auth-outage drill fails at *new_logins*.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from authdrill.stack.backend.app import BackendService, open_backend
from authdrill.stack.backend.settings import BackendSettings
from authdrill.stack.http import error_response, parse_json_object, read_body
from authdrill.stack.server import serve_main

__all__ = ["NoBreakerBackend"]

_RETRY_DELAYS_S = (0.5, 1.0, 2.0)


class NoBreakerBackend(BackendService):
    """Logins go straight to auth, retried with back-off (the anti-pattern)."""

    async def _proxy(self, request: Request, path: str, name: str) -> Response:
        body = await read_body(request)
        parse_json_object(body)
        async with httpx.AsyncClient(base_url=self.settings.auth_url, trust_env=False) as auth:
            for delay in (*_RETRY_DELAYS_S, None):
                try:
                    upstream = await auth.post(
                        path, content=body, headers={"content-type": "application/json"}, timeout=10
                    )
                except httpx.TransportError:
                    if delay is None:
                        break
                    await asyncio.sleep(
                        delay
                    )  # the mistake under test: waiting on a dead dependency
                    continue
                return Response(
                    upstream.content,
                    status_code=upstream.status_code,
                    media_type="application/json",
                )
        self.metrics.proxied.labels(name, "bad_gateway").inc()
        return error_response(502, "bad_gateway", "auth did not answer")

    def health_report(self, db_problem: str | None, *, now: float) -> dict[str, Any]:
        report = super().health_report(db_problem, now=now)
        report["breaker"] = {"state": "none"}  # there is no breaker on the login path
        return report


async def _open(settings: BackendSettings) -> BackendService:
    return await open_backend(settings, service_class=NoBreakerBackend)


if __name__ == "__main__":
    sys.exit(serve_main("backend", _open))
