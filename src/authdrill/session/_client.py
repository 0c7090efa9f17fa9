"""One user of a target, as a real client: HTTP with a Bearer token, a live WebSocket.

Every failure leaves here as a :class:`~authdrill.errors.SessionError` (or its
``LoginError``/``WebSocketError`` subclasses) whose ``kind`` says what happened
(``refused``, ``timeout``, ``status``, ``protocol``, ``closed``, ``mismatch``,
``transport``) and whose ``status`` carries the HTTP status or close code seen. aiohttp
and websockets exceptions are translated once, here, and never escape.

A WebSocket round trip counts only when a reply arrives *and* echoes the id that was
sent; silence (timeout), a close, or a reply to something else is a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from authdrill.errors import LoginError, SessionError, WebSocketError
from authdrill.target import IntegrityDef, LoginDef, RequestDef, SessionDef, fill

__all__ = ["Answer", "SessionClient", "dotted", "new_http_session"]


def dotted(document: Any, path: str) -> Any:
    """The value at dotted ``path`` in nested dicts, or ``None`` if absent."""
    value = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read in full (the seam between the client and its HTTP library)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not)."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(str(exc)) from exc

    def is_json_error(self) -> bool:
        """Whether the body is a JSON object with an ``error`` member."""
        try:
            body = self.json()
        except ValueError:
            return False
        return isinstance(body, dict) and "error" in body


def new_http_session(*, keepalive_s: float = 2.0) -> aiohttp.ClientSession:
    """The HTTP connection pool session clients share (call inside a running loop).

    Idle connections are closed after ``keepalive_s``, before typical server keep-alive
    timeouts (5 s and up), so a request never goes out on a connection the server is
    just closing — which would show up as a spurious failure.
    """
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=keepalive_s, use_dns_cache=True)
    return aiohttp.ClientSession(connector=connector, trust_env=False)


class SessionClient:
    """A user: logs in, calls authenticated endpoints, holds a WebSocket, refreshes.

    Args:
        session: how the target is used (from its target description).
        urls: base URL of each service by name.
        http: the shared HTTP session (connection pool), see :func:`new_http_session`.
        username: this user's name (created by :meth:`register` if the target can).
        timeout_s: per-request timeout; a request that takes longer is a ``timeout``.
    """

    def __init__(
        self,
        session: SessionDef,
        urls: Mapping[str, str],
        *,
        http: aiohttp.ClientSession,
        username: str,
        timeout_s: float = 5.0,
    ) -> None:
        self._def = session
        self._urls = urls
        self._http = http
        self.username = username
        self.password = session.password
        self.timeout_s = timeout_s
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.websocket: ClientConnection | None = None
        self.close_code: int | None = None
        self.acknowledged: list[Any] = []
        self._ws_turn = asyncio.Lock()  # one round trip at a time: a reply belongs to one request
        self._counter = itertools.count(1)

    # ------------------------------------------------------------------ HTTP
    def _values(self) -> dict[str, Any]:
        """Every session placeholder: a fresh ``n`` and ``id`` for each use."""
        n = next(self._counter)
        return {
            "username": self.username,
            "password": self.password,
            "refresh_token": self.refresh_token or "",
            "n": n,
            "id": f"{self.username}-{n}",
        }

    async def _send(self, request: RequestDef, *, bearer: bool) -> Answer:
        values = self._values()
        headers = dict(fill(dict(request.headers), values, key="headers"))
        if bearer:
            if self.access_token is None:
                raise SessionError(f"{self.username}: not logged in", kind="protocol")
            headers["authorization"] = f"Bearer {self.access_token}"
        url = self._urls[request.service] + fill(request.path, values, key="path")
        body = fill(request.json, values, key="json") if request.json is not None else None
        return await self._fetch(request.method, url, json_body=body, headers=headers)

    async def _fetch(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request; library errors become :class:`SessionError` here, and only here."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self._http.request(
                method, url, json=json_body, headers=headers, timeout=timeout
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except aiohttp.ClientConnectorError as exc:
            raise SessionError(f"{method} {url}: connection refused", kind="refused") from exc
        except TimeoutError as exc:
            raise SessionError(
                f"{method} {url}: no answer in {self.timeout_s:g} s", kind="timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            raise SessionError(f"{method} {url}: {type(exc).__name__}", kind="transport") from exc

    async def _expect(self, request: RequestDef, *, bearer: bool) -> int:
        response = await self._send(request, bearer=bearer)
        if response.status not in request.expect:
            raise SessionError(
                f"{request.method} {request.path}: HTTP {response.status}, expected "
                f"{'/'.join(map(str, request.expect))}",
                kind="status",
                status=response.status,
            )
        if request.acknowledges is not None:
            self.acknowledged.append(self._acknowledged_id(request, response))
        return response.status

    @staticmethod
    def _acknowledged_id(request: RequestDef, response: Answer) -> Any:
        assert request.acknowledges is not None
        try:
            value = dotted(response.json(), request.acknowledges)
        except ValueError:
            value = None
        if value is None:
            raise SessionError(
                f"{request.method} {request.path}: no {request.acknowledges!r} in the answer",
                kind="protocol",
                status=response.status,
            )
        return value

    async def read_back(self, integrity: IntegrityDef, *, max_pages: int = 10_000) -> list[Any]:
        """Every item id the target lists for this user (authenticated, all pages).

        Raises:
            SessionError: a page could not be read, or has the wrong shape.
        """
        ids: list[Any] = []
        after: Any = 0
        for _ in range(max_pages):
            values = {**self._values(), "after": after}
            url = self._urls[integrity.service] + fill(integrity.path, values, key="integrity.path")
            bearer = {"authorization": f"Bearer {self.access_token}"}
            response = await self._fetch("GET", url, headers=bearer)
            try:
                page = response.json() if response.status == 200 else None  # noqa: PLR2004
            except ValueError:
                page = None
            items = dotted(page, integrity.items) if page is not None else None
            if not isinstance(items, list):
                raise SessionError(
                    f"reading back {url}: HTTP {response.status}",
                    kind="status",
                    status=response.status,
                )
            ids.extend(dotted(item, integrity.item_id) for item in items)
            after = dotted(page, integrity.next)
            if after is None:
                return ids
        raise SessionError(f"reading back: more than {max_pages} pages", kind="protocol")

    async def register(self) -> int:
        """Create this user (no-op returning 0 if the target has no registration)."""
        if self._def.register is None:
            return 0
        return await self._expect(self._def.register, bearer=False)

    async def call(self, request: RequestDef) -> int:
        """An authenticated call; returns its status (one of ``request.expect``)."""
        return await self._expect(request, bearer=True)

    async def open_call(self) -> int:
        """The target's unauthenticated call, if it has one (else 0)."""
        if self._def.open_call is None:
            return 0
        return await self._expect(self._def.open_call, bearer=False)

    async def _token_exchange(self, login: LoginDef, what: str) -> int:
        response = await self._send(login.request, bearer=False)
        if response.status not in login.request.expect:
            raise LoginError(
                f"{what} for {self.username}: HTTP {response.status}",
                status=response.status,
                retry_after=response.headers.get("retry-after"),
                json_error=response.is_json_error(),
            )
        try:
            body = response.json()
        except ValueError:
            raise LoginError(
                f"{what}: answer is not JSON", kind="protocol", status=response.status
            ) from None
        token = dotted(body, login.token)
        if not isinstance(token, str) or not token:
            raise LoginError(
                f"{what}: no token at {login.token!r}", kind="protocol", status=response.status
            )
        self.access_token = token
        if login.refresh_token:
            refresh = dotted(body, login.refresh_token)
            self.refresh_token = refresh if isinstance(refresh, str) else None
        return response.status

    async def login(self, *, via_backend: bool = False) -> int:
        """Log in (at auth, or through the backend) and keep the tokens.

        Raises:
            LoginError: refused (``status``, ``retry_after``, ``json_error`` tell how) or
                no token in the answer (``kind="protocol"``); transport failures as
                :class:`SessionError`.
        """
        login = self._def.backend_login if via_backend else self._def.login
        return await self._token_exchange(login, "backend login" if via_backend else "login")

    async def refresh(self) -> int:
        """Exchange the refresh token for new tokens.

        Raises:
            LoginError: the target has no refresh, there is no refresh token, or it
                was refused.
        """
        if self._def.refresh is None or self.refresh_token is None:
            raise LoginError(f"{self.username}: nothing to refresh with", kind="protocol")
        return await self._token_exchange(self._def.refresh, "refresh")

    # ------------------------------------------------------------------ WebSocket
    @property
    def websocket_open(self) -> bool:
        """Whether this user's WebSocket is (still) open."""
        return self.websocket is not None and self.websocket.state is State.OPEN

    async def open_websocket(self) -> None:
        """Open the target's WebSocket with ``Authorization: Bearer``.

        Raises:
            WebSocketError: refused at the handshake (``status`` = HTTP status) or not
                reachable.
        """
        spec = self._def.websocket
        if spec is None:
            raise WebSocketError("the target has no WebSocket", kind="protocol")
        url = "ws" + self._urls[spec.service].removeprefix("http") + spec.path
        headers = {"authorization": f"Bearer {self.access_token}"} if self.access_token else {}
        try:
            self.websocket = await connect(
                url,
                additional_headers=headers,
                proxy=None,
                open_timeout=self.timeout_s,
                ping_interval=None,  # the server pings; round trips prove liveness
                close_timeout=1,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise WebSocketError(
                f"WebSocket refused: HTTP {status}", kind="status", status=status
            ) from exc
        except (InvalidHandshake, TimeoutError) as exc:
            raise WebSocketError(f"WebSocket handshake failed: {exc}", kind="protocol") from exc
        except OSError as exc:
            raise WebSocketError(
                f"WebSocket not reachable: {exc.strerror}", kind="refused"
            ) from exc
        self.close_code = None

    async def ws_round_trip(self) -> None:
        """Send the target's message with a fresh id; the reply must echo that id.

        Raises:
            WebSocketError: ``closed`` (with the close code), ``timeout`` (no reply),
                ``mismatch`` (a reply without our id) or ``protocol`` (not JSON).
        """
        async with self._ws_turn:
            await self._round_trip()

    async def _round_trip(self) -> None:
        spec = self._def.websocket
        if spec is None or self.websocket is None:
            raise WebSocketError("no WebSocket open", kind="protocol")
        values = self._values()
        message_id = values["id"]
        message = fill(spec.send, values, key="send")
        try:
            await self.websocket.send(
                json.dumps(message) if not isinstance(message, str) else message
            )
            async with asyncio.timeout(self.timeout_s):
                raw = await self.websocket.recv()
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else None
            raise WebSocketError(
                f"WebSocket closed (code {self.close_code})",
                kind="closed",
                close_code=self.close_code,
            ) from exc
        except TimeoutError as exc:
            raise WebSocketError(f"no reply within {self.timeout_s:g} s", kind="timeout") from exc
        try:
            reply = json.loads(raw)
        except (ValueError, TypeError) as exc:
            raise WebSocketError("reply is not JSON", kind="protocol") from exc
        if dotted(reply, spec.reply_id) != message_id:
            raise WebSocketError(
                f"reply {str(reply)[:80]} does not echo id {message_id!r}", kind="mismatch"
            )

    async def close(self) -> None:
        """Close the WebSocket (normal closure) if open."""
        if self.websocket is not None:
            await self.websocket.close()
            self.websocket = None
