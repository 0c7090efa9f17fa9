"""The reference stack as real processes, and helpers to use it like a client would."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from authdrill.drill._scraper import parse_metrics
from authdrill.process import ManagedService, Supervisor, free_port
from authdrill.stack.reference import auth_spec, backend_spec
from tests.support import TIME_UNIT

__all__ = ["FAST_AUTH", "FAST_BACKEND", "PASSWORD", "Stack", "StackFactory", "bearer"]

PASSWORD = "correct horse battery"

# Fast, but realistic: the breaker tries auth again within 0.1-0.4 s, revocations
# reach the backend within 0.2 s, an unknown kid may refresh keys every 0.5 s.
FAST_BACKEND = (
    "--breaker-open-wait", "0.1",
    "--breaker-open-wait-max", "0.4",
    "--revocation-poll-interval", "0.2",
    "--jwks-unknown-kid-cooldown", "0.5",
)  # fmt: skip
FAST_AUTH = ("--key-reload-interval", "0.2")


@dataclass
class Stack:
    """The running reference stack and helpers to use it like a client would."""

    supervisor: Supervisor
    http: httpx.AsyncClient
    root: Path
    auth_db: str
    backend_db: str
    auth_args: Sequence[str]
    backend_args: Sequence[str]
    auth_port: int = field(default_factory=free_port)
    backend_port: int = field(default_factory=free_port)
    session_http: Any = None  # an aiohttp session for SessionClient users, when a test needs one

    @property
    def auth(self) -> ManagedService:
        return self.supervisor["auth"]

    @property
    def backend(self) -> ManagedService:
        return self.supervisor["backend"]

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.auth_port}"

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.backend_port}"

    @property
    def auth_dir(self) -> Path:
        return self.root / "auth"

    @property
    def backend_dir(self) -> Path:
        return self.root / "backend"

    async def start_auth(self) -> None:
        await self.supervisor.start(
            auth_spec(
                port=self.auth_port,
                data_dir=self.auth_dir,
                database_url=self.auth_db,
                extra_args=(*FAST_AUTH, *self.auth_args),
            )
        )

    async def start_backend(self) -> None:
        await self.supervisor.start(
            backend_spec(
                port=self.backend_port,
                data_dir=self.backend_dir,
                auth_url=self.auth_url,
                database_url=self.backend_db,
                extra_args=(*FAST_BACKEND, *self.backend_args),
            )
        )

    # ------------------------------------------------------------------ client side
    async def register(self, username: str | None = None, password: str = PASSWORD) -> str:
        name = username or f"user-{secrets.token_hex(4)}"
        response = await self.http.post(
            f"{self.auth_url}/register", json={"username": name, "password": password}
        )
        assert response.status_code == 201, response.text
        return name

    async def login(
        self, username: str, password: str = PASSWORD, *, via: str = "auth"
    ) -> dict[str, Any]:
        url = f"{self.auth_url}/login" if via == "auth" else f"{self.backend_url}/api/login"
        response = await self.http.post(url, json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def new_session(self) -> dict[str, Any]:
        """Register a fresh user and log in; the token pair plus ``username``."""
        username = await self.register()
        return {**await self.login(username), "username": username}

    async def me(self, token: str) -> httpx.Response:
        return await self.http.get(f"{self.backend_url}/api/me", headers=bearer(token))

    async def health(self) -> dict[str, Any]:
        response = await self.http.get(f"{self.backend_url}/health")
        body: dict[str, Any] = response.json()
        return body

    async def backend_metrics(self) -> dict[str, float]:
        """The backend's ``/metrics`` as ``{"name{label=value,...}": value}``."""
        response = await self.http.get(f"{self.backend_url}/metrics")
        assert response.status_code == 200, response.text
        return parse_metrics(response.text)

    def ws(self, token: str | None, **kwargs: Any) -> AbstractAsyncContextManager[ClientConnection]:
        headers = bearer(token) if token else {}
        return connect(
            f"ws://127.0.0.1:{self.backend_port}/ws",
            additional_headers=headers,
            proxy=None,
            open_timeout=5 * TIME_UNIT,
            **kwargs,
        )


def bearer(token: str) -> dict[str, str]:
    """An Authorization header carrying ``token``."""
    return {"authorization": f"Bearer {token}"}


StackFactory = Callable[..., Awaitable[Stack]]
