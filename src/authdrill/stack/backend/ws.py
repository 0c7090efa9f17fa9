"""The backend's WebSocket: authenticated at the handshake, closed when its token ends.

Handshake: ``Authorization: Bearer <access token>``; without one, or with a bad one,
the upgrade is refused with an HTTP 401 (503 when keys are unavailable) *before* the
socket is accepted. Messages are JSON text frames::

    {"type": "ping", "id": 7}                 -> {"type": "pong", "id": 7}
    {"type": "note", "id": 8, "text": "hi"}   -> {"type": "note_saved", "id": 8, "note_id": 42}
    {"type": "reauth", "id": 9, "token": "…"} -> {"type": "reauth_ok", "id": 9, "exp": 1.7e9}
    anything else -> {"type": "error", "id": …, "error": "<code>", "message": "<words>"}

A ``note_saved`` reply is sent only after the note is committed. ``reauth`` swaps in a
fresh access token of the same subject, so a long-lived socket outlives one token.

The server closes the socket with :data:`CLOSE_TOKEN_EXPIRED` when its token expires
and :data:`CLOSE_TOKEN_REVOKED` when its session is revoked. Both are one mechanism:
each ``receive`` waits under ``asyncio.timeout_at(token expiry)``, and a revocation
reschedules that timeout to now.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from authdrill.errors import InvalidTokenError
from authdrill.stack.backend.notes import MAX_NOTE_LENGTH, add_note
from authdrill.stack.backend.verifier import KeysUnavailable, Verifier
from authdrill.stack.claims import AccessClaims
from authdrill.stack.db import Database
from authdrill.stack.http import error_response

__all__ = [
    "CLOSE_TOKEN_EXPIRED",
    "CLOSE_TOKEN_REVOKED",
    "SocketRegistry",
    "WebSocketEndpoint",
    "bearer_token",
]

CLOSE_TOKEN_EXPIRED = 4401
CLOSE_TOKEN_REVOKED = 4403
log = logging.getLogger("authdrill.backend.ws")


def bearer_token(headers: Any) -> str | None:
    """The credentials of an ``Authorization: Bearer`` header, if there is one."""
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


@dataclass(eq=False, slots=True)
class _Socket:
    websocket: WebSocket
    claims: AccessClaims
    deadline: float  # loop time at which the token expires
    close_code: int = CLOSE_TOKEN_EXPIRED
    waiting: asyncio.Timeout | None = field(default=None)

    def end_now(self, code: int) -> None:
        self.close_code = code
        self.deadline = asyncio.get_running_loop().time()
        if self.waiting is not None:
            self.waiting.reschedule(self.deadline)


class SocketRegistry:
    """Open sockets by session id, so a revocation can close them."""

    def __init__(self) -> None:
        self._by_sid: dict[str, set[_Socket]] = {}
        self.count = 0

    def add(self, sock: _Socket) -> None:
        self._by_sid.setdefault(sock.claims.sid, set()).add(sock)
        self.count += 1

    def remove(self, sock: _Socket) -> None:
        sockets = self._by_sid.get(sock.claims.sid)
        if sockets is not None and sock in sockets:
            sockets.discard(sock)
            self.count -= 1
            if not sockets:
                del self._by_sid[sock.claims.sid]

    def revoke(self, sids: set[str]) -> int:
        """Close every socket of the sessions in ``sids``; returns how many."""
        closed = 0
        for sid in sids:
            for sock in list(self._by_sid.get(sid, ())):
                sock.end_now(CLOSE_TOKEN_REVOKED)
                closed += 1
        return closed


def _deadline(claims: AccessClaims) -> float:
    return asyncio.get_running_loop().time() + (claims.exp - time.time())


class WebSocketEndpoint:
    """The ASGI endpoint for ``/ws``."""

    def __init__(self, *, verifier: Verifier, db: Database, registry: SocketRegistry) -> None:
        self._verifier = verifier
        self._db = db
        self.registry = registry

    async def handle(self, websocket: WebSocket) -> None:
        """Serve one WebSocket connection from handshake to close."""
        claims = await self._authenticate(websocket)
        if claims is None:
            return
        await websocket.accept()
        sock = _Socket(websocket=websocket, claims=claims, deadline=_deadline(claims))
        self.registry.add(sock)
        try:
            await self._serve(sock)
        finally:
            self.registry.remove(sock)

    async def _authenticate(self, websocket: WebSocket) -> AccessClaims | None:
        token = bearer_token(websocket.headers)
        if token is None:
            await _deny(websocket, 401, "missing_token", "send Authorization: Bearer <token>")
            return None
        try:
            return await self._verifier.verify(token)
        except InvalidTokenError as exc:
            await _deny(websocket, 401, "invalid_token", exc.reason)
        except KeysUnavailable:
            await _deny(websocket, 503, "keys_unavailable", "cannot verify tokens right now")
        return None

    async def _serve(self, sock: _Socket) -> None:
        websocket = sock.websocket
        while True:
            try:
                async with asyncio.timeout_at(sock.deadline) as waiting:
                    sock.waiting = waiting
                    message = await websocket.receive()
            except TimeoutError:
                await websocket.close(sock.close_code)
                return
            finally:
                sock.waiting = None
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            reply = (
                await self._handle(sock, text)
                if text is not None
                else _error(None, "bad_message", "send JSON text frames")
            )
            try:
                await websocket.send_text(json.dumps(reply, separators=(",", ":")))
            except (WebSocketDisconnect, RuntimeError):
                return

    async def _handle(self, sock: _Socket, text: str) -> dict[str, Any]:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return _error(None, "bad_message", "message is not JSON")
        if not isinstance(message, dict):
            return _error(None, "bad_message", "message is not a JSON object")
        msg_id = message.get("id")
        kind = message.get("type")
        if kind == "ping":
            return {"type": "pong", "id": msg_id}
        if kind == "note":
            return await self._note(sock, msg_id, message.get("text"))
        if kind == "reauth":
            return await self._reauth(sock, msg_id, message.get("token"))
        return _error(msg_id, "unknown_type", f"unknown message type {kind!r}")

    async def _note(self, sock: _Socket, msg_id: Any, text: Any) -> dict[str, Any]:
        if not isinstance(text, str) or not text or len(text) > MAX_NOTE_LENGTH:
            return _error(msg_id, "invalid_note", f"text must be 1-{MAX_NOTE_LENGTH} characters")
        note = await add_note(self._db, sock.claims.sub, text)
        return {"type": "note_saved", "id": msg_id, "note_id": note.id}

    async def _reauth(self, sock: _Socket, msg_id: Any, token: Any) -> dict[str, Any]:
        if not isinstance(token, str):
            return _error(msg_id, "invalid_token", "token must be a string")
        try:
            claims = await self._verifier.verify(token)
        except InvalidTokenError as exc:
            return _error(msg_id, "invalid_token", exc.reason)
        except KeysUnavailable:
            return _error(msg_id, "keys_unavailable", "cannot verify tokens right now")
        if claims.sub != sock.claims.sub:
            return _error(msg_id, "invalid_token", "token is for another subject")
        self.registry.remove(sock)
        sock.claims = claims
        sock.deadline = _deadline(claims)
        self.registry.add(sock)
        return {"type": "reauth_ok", "id": msg_id, "exp": claims.exp}


def _error(msg_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": msg_id, "error": code, "message": message}


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None  # noqa: PLR2004
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(status, code, message, headers))
    else:  # a server without the denial extension: refuse the upgrade the only way left
        await websocket.close(1008)
