"""Broken: a backend whose readiness depends on auth.

``/health/ready`` also asks auth. When auth dies, every backend reports not ready and a
load balancer takes them all out of rotation: an auth outage becomes a full outage.
The auth-outage drill fails at *breaker* ("backend stays ready").
"""

from __future__ import annotations

import sys

import httpx
from starlette.requests import Request
from starlette.responses import Response

from authdrill.stack.backend.app import BackendService, open_backend
from authdrill.stack.backend.settings import BackendSettings
from authdrill.stack.http import json_response
from authdrill.stack.server import serve_main

__all__ = ["AuthCoupledReadiness"]


class AuthCoupledReadiness(BackendService):
    """Readiness that asks auth too (the anti-pattern)."""

    async def ready(self, request: Request) -> Response:
        try:
            async with httpx.AsyncClient(base_url=self.settings.auth_url, trust_env=False) as auth:
                answer = await auth.get("/health/ready", timeout=1)
        except httpx.HTTPError:
            return json_response({"status": "unavailable", "auth": "unreachable"}, 503)
        if answer.status_code != 200:  # noqa: PLR2004
            return json_response({"status": "unavailable", "auth": answer.status_code}, 503)
        return await super().ready(request)


async def _open(settings: BackendSettings) -> BackendService:
    return await open_backend(settings, service_class=AuthCoupledReadiness)


if __name__ == "__main__":
    sys.exit(serve_main("backend", _open))
