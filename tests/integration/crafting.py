"""Helpers for the security tests: forged tokens, a tripwire listener, a shared stack.

* :class:`Forge` signs with the *real* auth key (read from auth's keyring on disk), so a
  test can change exactly one thing in an otherwise valid token and prove that one
  thing is what gets it rejected. :func:`assemble` builds any shape by hand.
* :class:`Tripwire` is a TCP listener on a free port that counts every connection: put
  its URL in a token (``jku``, ``x5u``, ``kid``) and assert nobody ever dialled it.
* :func:`running_stack` runs auth and backend on SQLite for a whole test module, for tests
  that do not disturb each other (each uses its own users and sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authdrill.process import Supervisor
from authdrill.stack.auth.keyring import load_or_create
from authdrill.stack.db import default_sqlite_url
from authdrill.stack.jose import b64url_encode
from tests.integration.support import Stack
from tests.support import TIME_UNIT, eventually

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "Forge",
    "Tripwire",
    "assert_invalid_token",
    "b64json",
    "claims",
    "jwks_fetches",
    "running_stack",
    "sign_raw",
]

ISSUER = "authdrill-auth"
AUDIENCE = "authdrill-backend"

_SIGNERS: dict[str, Any] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
}


def b64json(value: Any) -> str:
    """``value`` as compact JSON, base64url-encoded (a JOSE segment)."""
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def claims(*, lifetime_s: int = 600, **changes: Any) -> dict[str, Any]:
    """A claim set the backend accepts, with ``changes`` applied (``None`` drops a claim).

    Every call has a fresh ``sub``, ``sid`` and ``jti``, so no two tests share a session.
    """
    now = int(time.time())
    result: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"forged-{secrets.token_hex(6)}",
        "name": "forged",
        "sid": secrets.token_urlsafe(16),
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + lifetime_s,
        "token_use": "access",
    }
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def _segment(part: Mapping[str, Any] | bytes) -> str:
    return b64url_encode(part) if isinstance(part, bytes) else b64json(part)


def sign_raw(
    header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes, key: Any, alg: str
) -> str:
    """A compact token whose signature over exactly these segments is made with ``key``."""
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    signature = _SIGNERS[alg].sign(signing_input.encode("ascii"), key)
    return f"{signing_input}.{b64url_encode(signature)}"


@dataclass(frozen=True, slots=True)
class Forge:
    """Signs tokens with one private key under one ``kid`` (by default auth's current key)."""

    kid: str
    alg: str
    key: Any

    @classmethod
    def from_auth(cls, auth_dir: Path) -> Forge:
        """The key auth signs with right now, read from its keyring on disk."""
        kid, alg, key = load_or_create(auth_dir / "keys", alg="ES256").signing_key()
        return cls(kid=kid, alg=alg, key=key)

    def header(self, **changes: Any) -> dict[str, Any]:
        """The header auth would write, with ``changes`` applied (``None`` drops a member)."""
        result: dict[str, Any] = {"alg": self.alg, "typ": "at+jwt", "kid": self.kid}
        for name, value in changes.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = value
        return result

    def token(self, payload: Mapping[str, Any] | bytes | None = None, **header_changes: Any) -> str:
        """A token signed by this key over ``payload`` (default: :func:`claims`)."""
        body = claims() if payload is None else payload
        return sign_raw(self.header(**header_changes), body, self.key, self.alg)


def assert_invalid_token(response: httpx.Response, reason: str) -> None:
    """``response`` is the documented rejection: 401, ``invalid_token``, ``reason``."""
    assert response.status_code == 401, f"{response.status_code} {response.text}"
    assert response.json() == {"error": "invalid_token", "message": reason}, response.text
    assert 'error="invalid_token"' in response.headers.get("www-authenticate", "")


class Tripwire:
    """A TCP listener on a free port that counts (and drops) every connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    def url(self, path: str = "/") -> str:
        """An http URL that lands on this listener."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def assert_untouched(self) -> None:
        """No connection so far; then prove the listener does count by dialling it once."""
        assert self.connections == 0, f"{self.connections} outbound connection(s) to {self.url()}"
        _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

        async def counted() -> bool:
            return self.connections == 1

        await eventually(counted, within_s=1, what="the tripwire counts a connection")


_JWKS_REQUESTS = re.compile(
    r'^authdrill_http_requests_total\{[^}]*route="/\.well-known/jwks\.json"[^}]*\} (\S+)$',
    re.MULTILINE,
)


async def jwks_fetches(stack: Stack) -> int:
    """How many JWKS requests auth has served (from its ``/metrics``)."""
    response = await stack.http.get(f"{stack.auth_url}/metrics")
    assert response.status_code == 200
    return int(sum(float(value) for value in _JWKS_REQUESTS.findall(response.text)))


@contextlib.asynccontextmanager
async def running_stack(
    root: Path,
    *,
    auth_args: Sequence[str] = (),
    backend_args: Sequence[str] = (),
    auth_db: str | None = None,
    backend_db: str | None = None,
) -> AsyncIterator[Stack]:
    """Auth and backend under ``root``, stopped on exit (like ``stack_factory``).

    Their databases are SQLite files under ``root`` unless ``auth_db``/``backend_db``
    give other URLs (a PostgreSQL cluster's).
    """
    async with (
        Supervisor(root / "run") as supervisor,
        httpx.AsyncClient(trust_env=False, timeout=10 * TIME_UNIT) as http,
    ):
        stack = Stack(
            supervisor,
            http,
            root,
            auth_db or default_sqlite_url(root / "auth", "auth"),
            backend_db or default_sqlite_url(root / "backend", "backend"),
            auth_args,
            backend_args,
        )
        await stack.start_auth()
        await stack.start_backend()
        yield stack
