"""Prometheus metrics for stack services: a per-service registry and HTTP middleware.

Each service owns its :class:`prometheus_client.CollectorRegistry` (no global state, so
several apps can live in one test process). :class:`HttpMetricsMiddleware` is a plain
ASGI middleware that counts requests and observes latency labelled by *route template*
(``/api/notes``, not ``/api/notes/17``), so label cardinality stays bounded.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpMetricsMiddleware", "metrics_endpoint", "new_registry"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def new_registry() -> CollectorRegistry:
    """A fresh registry for one service."""
    return CollectorRegistry(auto_describe=True)


class HttpMetricsMiddleware:
    """Counts HTTP requests and observes their latency by method, route and status."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry, service: str) -> None:
        self.app = app
        self._requests = Counter(
            "authdrill_http_requests",
            "HTTP requests served, by method, route template and status.",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "authdrill_http_request_duration_seconds",
            "HTTP request latency in seconds, by method and route template.",
            ["service", "method", "route"],
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"]
            self._requests.labels(self._service, method, template, str(status)).inc()
            self._latency.labels(self._service, method, template).observe(
                time.perf_counter() - start
            )


def metrics_endpoint(registry: CollectorRegistry) -> Any:
    """A Starlette endpoint serving ``registry`` in the Prometheus text format."""

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
