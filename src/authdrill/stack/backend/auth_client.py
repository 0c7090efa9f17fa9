"""The backend's only way to talk to auth: every call through the circuit breaker.

Login and refresh proxying, key-set refresh and the revocation feed all go through one
:class:`~authdrill.stack.backend.guard.Guard`. Failures are translated here, once, into
:class:`AuthUnavailable` carrying how long the caller should tell its client to wait.
A response with status >= 500 counts as a failure for the breaker; a 4xx is auth doing
its job and counts as a success.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from authdrill.stack.backend.guard import BreakerOpenError, Guard

__all__ = ["AuthClient", "AuthUnavailable", "JwksFetch"]

_MIN_RETRY_AFTER_S = 1


def _json(response: httpx.Response) -> Any:
    """The decoded body; anything undecodable is a ``ValueError`` (never a crash)."""
    try:
        return response.json()
    except (ValueError, RecursionError) as exc:
        raise ValueError(
            f"auth answered a body that is not acceptable JSON ({type(exc).__name__})"
        ) from exc


class AuthUnavailable(Exception):  # noqa: N818 - an outcome, mapped to 503
    """Auth could not be asked: breaker open, unreachable, timed out, or failing.

    Attributes:
        reason: ``circuit_open``, ``unreachable``, ``timeout`` or ``auth_error``.
        retry_after_s: whole seconds a client should wait (at least 1).
    """

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = max(_MIN_RETRY_AFTER_S, math.ceil(retry_after_s))


@dataclass(frozen=True, slots=True)
class JwksFetch:
    """A key-set response: ``document`` is ``None`` when auth said 304 Not Modified."""

    document: Any
    etag: str | None


class AuthClient:
    """HTTP calls to auth, guarded by the breaker, with bounded timeouts."""

    def __init__(
        self,
        base_url: str,
        guard: Guard,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.guard = guard
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            trust_env=False,
            transport=transport,
        )

    def _wait_hint(self) -> float:
        return self.guard.breaker.retry_after_s()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            return await self._http.request(method, path, **kwargs)

        try:
            response = await self.guard.call(send, is_failure=lambda r: r.status_code >= 500)  # noqa: PLR2004
        except BreakerOpenError as exc:
            raise AuthUnavailable("circuit_open", exc.retry_after_s) from exc
        except httpx.TimeoutException as exc:
            raise AuthUnavailable("timeout", self._wait_hint()) from exc
        except httpx.TransportError as exc:
            raise AuthUnavailable("unreachable", self._wait_hint()) from exc
        if response.status_code >= 500:  # noqa: PLR2004
            raise AuthUnavailable("auth_error", self._wait_hint())
        return response

    async def forward(self, path: str, body: bytes, *, client: str | None) -> httpx.Response:
        """POST a JSON ``body`` to auth's ``path`` on behalf of ``client``.

        Raises:
            AuthUnavailable: auth could not answer (4xx answers are returned).
        """
        headers = {"content-type": "application/json"}
        if client:
            headers["x-forwarded-for"] = client
        return await self._request("POST", path, content=body, headers=headers)

    async def fetch_jwks(self, etag: str | None) -> JwksFetch:
        """GET the key set, conditionally on ``etag``.

        Raises:
            AuthUnavailable: auth could not answer.
            ValueError: auth answered something that is not a JSON key-set response.
        """
        headers = {"if-none-match": etag} if etag else {}
        response = await self._request("GET", "/.well-known/jwks.json", headers=headers)
        if response.status_code == 304:  # noqa: PLR2004
            return JwksFetch(document=None, etag=etag)
        if response.status_code != 200:  # noqa: PLR2004
            raise ValueError(f"key set request answered {response.status_code}")
        return JwksFetch(document=_json(response), etag=response.headers.get("etag"))

    async def fetch_revocations(self, cursor: int) -> Any:
        """GET one page of the revocation feed after ``cursor`` (decoded JSON).

        Raises:
            AuthUnavailable: auth could not answer.
            ValueError: auth answered something other than 200 JSON.
        """
        response = await self._request("GET", "/revocations", params={"after": str(cursor)})
        if response.status_code != 200:  # noqa: PLR2004
            raise ValueError(f"revocation feed answered {response.status_code}")
        return _json(response)

    async def probe(self) -> bool:
        """Whether auth reports itself ready (called by the breaker's probe, unguarded)."""
        response = await self._http.get("/health/ready")
        return response.status_code == 200  # noqa: PLR2004

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()
