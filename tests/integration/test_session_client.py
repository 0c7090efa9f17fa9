"""The session client against the real reference stack: round trips and translated errors."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.server import ServerConnection, serve

from authdrill.errors import LoginError, SessionError, WebSocketError
from authdrill.process import Supervisor, free_port
from authdrill.session import SessionClient, new_http_session
from authdrill.stack.db import default_sqlite_url
from authdrill.target import SessionDef, builtin_target
from tests.integration.support import Stack
from tests.support import TIME_UNIT, eventually

# One stack for the module (starting one costs ~1.5 s): every test uses its own user.
pytestmark = pytest.mark.asyncio(loop_scope="module")

SESSION: SessionDef = builtin_target().session


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The reference stack (SQLite, fast revocation polling) as real processes."""
    root: Path = tmp_path_factory.mktemp("session-client")
    async with (
        Supervisor(root / "run") as supervisor,
        httpx.AsyncClient(trust_env=False, timeout=10 * TIME_UNIT) as http,
        new_http_session() as session_http,
    ):
        stack = Stack(
            supervisor,
            http,
            root,
            default_sqlite_url(root / "auth", "auth"),
            default_sqlite_url(root / "backend", "backend"),
            (),
            (),
            session_http=session_http,
        )
        await stack.start_auth()
        await stack.start_backend()
        yield stack
        pids = [s.pid for s in supervisor.services if s.pid is not None]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def client_for(
    stack: Stack, *, urls: dict[str, str] | None = None, timeout_s: float = 5.0
) -> SessionClient:
    return SessionClient(
        SESSION,
        urls or {"auth": stack.auth_url, "backend": stack.backend_url},
        http=stack.session_http,
        username=f"client-{secrets.token_hex(4)}",
        timeout_s=timeout_s * TIME_UNIT,
    )


async def logged_in(stack: Stack) -> SessionClient:
    client = client_for(stack)
    assert await client.register() == 201
    assert await client.login() == 200
    return client


async def test_login_calls_websocket_and_refresh_round_trip(stack: Stack) -> None:
    """A user registers, logs in, calls, holds a WebSocket with echoed ids, and refreshes."""
    client = await logged_in(stack)
    assert client.access_token
    assert client.refresh_token
    statuses = [await client.call(request) for request in SESSION.calls]
    assert statuses == [200, 201]
    assert await client.open_call() == 200
    await client.open_websocket()
    try:
        assert client.websocket_open
        for _ in range(3):
            await client.ws_round_trip()
        old_access, old_refresh = client.access_token, client.refresh_token
        assert await client.refresh() == 200
        assert client.access_token not in {None, old_access}
        assert client.refresh_token not in {None, old_refresh}
        assert await client.call(SESSION.calls[0]) == 200  # the new token works
        await client.ws_round_trip()  # and the socket opened with the old one still does
    finally:
        await client.close()
    assert not client.websocket_open


async def test_login_through_the_backend_works_while_auth_is_up(stack: Stack) -> None:
    """The backend's login proxy hands out working tokens."""
    client = client_for(stack)
    await client.register()
    assert await client.login(via_backend=True) == 200
    assert await client.call(SESSION.calls[0]) == 200


async def test_wrong_password_is_a_login_error_with_status_401(stack: Stack) -> None:
    """A refused login is LoginError(kind="status", status=401), no token kept."""
    client = client_for(stack)
    await client.register()
    client.password = "not the password at all"
    with pytest.raises(LoginError) as raised:
        await client.login()
    assert (raised.value.kind, raised.value.status) == ("status", 401)
    assert raised.value.json_error
    assert client.access_token is None


async def test_calling_without_a_token_is_a_protocol_error(stack: Stack) -> None:
    """An authenticated call before any login fails in the client, kind "protocol"."""
    client = client_for(stack)
    with pytest.raises(SessionError) as raised:
        await client.call(SESSION.calls[0])
    assert raised.value.kind == "protocol"


async def test_a_rejected_token_is_a_status_error(stack: Stack) -> None:
    """A call with a token the backend rejects is SessionError(kind="status", status=401)."""
    client = client_for(stack)
    client.access_token = "not.a.token"
    with pytest.raises(SessionError) as raised:
        await client.call(SESSION.calls[0])
    assert (raised.value.kind, raised.value.status) == ("status", 401)


async def test_a_call_to_a_dead_port_is_refused(stack: Stack) -> None:
    """Nothing listening on the backend's port: kind "refused", not an httpx exception."""
    client = client_for(
        stack, urls={"auth": stack.auth_url, "backend": f"http://127.0.0.1:{free_port()}"}
    )
    client.access_token = "anything"
    with pytest.raises(SessionError) as raised:
        await client.call(SESSION.calls[0])
    assert raised.value.kind == "refused"
    with pytest.raises(SessionError) as login:  # a login through it: the same translation
        await client.login(via_backend=True)
    assert login.value.kind == "refused"


async def test_a_websocket_to_a_killed_backend_is_refused(stack: Stack) -> None:
    """After the backend is SIGKILLed its port refuses the WebSocket: kind "refused"."""
    client = await logged_in(stack)
    await stack.backend.kill()
    try:
        with pytest.raises(WebSocketError) as raised:
            await client.open_websocket()
    finally:
        await stack.backend.start()  # same port, for the tests after this one
    assert raised.value.kind == "refused"
    assert not client.websocket_open


async def test_a_websocket_with_a_bad_token_is_refused_with_401(stack: Stack) -> None:
    """The handshake is refused before upgrade: WebSocketError(kind="status", status=401)."""
    client = client_for(stack)
    client.access_token = "garbage"
    with pytest.raises(WebSocketError) as raised:
        await client.open_websocket()
    assert (raised.value.kind, raised.value.status) == ("status", 401)


async def test_logout_closes_the_websocket_with_4403(stack: Stack) -> None:
    """Once auth revokes the session, the backend closes the socket: kind "closed", 4403."""
    client = await logged_in(stack)
    await client.open_websocket()
    await client.ws_round_trip()
    response = await stack.http.post(
        f"{stack.auth_url}/logout", headers={"authorization": f"Bearer {client.access_token}"}
    )
    assert response.status_code == 204

    async def round_trip_fails() -> WebSocketError | None:
        try:
            await client.ws_round_trip()
        except WebSocketError as exc:
            return exc
        return None

    error: WebSocketError = await eventually(
        round_trip_fails, within_s=5, what="the revoked session's WebSocket to close"
    )
    assert error.kind == "closed"
    assert error.close_code == 4403
    assert error.status == 4403
    assert client.close_code == 4403
    assert not client.websocket_open


# ---------------------------------------------------------------------- a fake peer


Reply = Callable[[ServerConnection, dict[str, object]], Awaitable[None]]


@asynccontextmanager
async def websocket_peer(reply: Reply) -> AsyncIterator[dict[str, str]]:
    """A WebSocket server on a free port answering each message with ``reply``."""

    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            await reply(connection, json.loads(message))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield {"auth": f"http://127.0.0.1:{port}", "backend": f"http://127.0.0.1:{port}"}


async def peer_client(urls: dict[str, str], *, timeout_s: float = 5.0) -> SessionClient:
    http = new_http_session()
    client = SessionClient(
        SESSION, urls, http=http, username="peer-user", timeout_s=timeout_s * TIME_UNIT
    )
    client.access_token = "token-the-peer-ignores"
    await http.close()  # only the WebSocket is used
    await client.open_websocket()
    return client


async def test_a_reply_with_another_id_is_a_mismatch() -> None:
    """A reply that does not echo the id sent is kind "mismatch", even if well formed."""

    async def wrong_id(connection: ServerConnection, message: dict[str, object]) -> None:
        await connection.send(json.dumps({"type": "pong", "id": f"not-{message['id']}"}))

    async with websocket_peer(wrong_id) as urls:
        client = await peer_client(urls)
        try:
            with pytest.raises(WebSocketError) as raised:
                await client.ws_round_trip()
        finally:
            await client.close()
    assert raised.value.kind == "mismatch"


async def test_an_echoing_peer_is_a_successful_round_trip() -> None:
    """The same peer echoing the id passes: the mismatch above is about the id alone."""

    async def echo(connection: ServerConnection, message: dict[str, object]) -> None:
        await connection.send(json.dumps({"type": "pong", "id": message["id"]}))

    async with websocket_peer(echo) as urls:
        client = await peer_client(urls)
        try:
            await client.ws_round_trip()
            await client.ws_round_trip()
        finally:
            await client.close()


async def test_a_non_json_reply_is_a_protocol_error() -> None:
    """A reply that is not JSON is kind "protocol"."""

    async def garbage(connection: ServerConnection, message: dict[str, object]) -> None:
        del message
        await connection.send("this is not json")

    async with websocket_peer(garbage) as urls:
        client = await peer_client(urls)
        try:
            with pytest.raises(WebSocketError) as raised:
                await client.ws_round_trip()
        finally:
            await client.close()
    assert raised.value.kind == "protocol"


async def test_a_silent_peer_is_a_timeout() -> None:
    """No reply within the client's timeout is kind "timeout"."""

    async def silent(connection: ServerConnection, message: dict[str, object]) -> None:
        del connection, message

    async with websocket_peer(silent) as urls:
        client = await peer_client(urls, timeout_s=0.2)
        try:
            with pytest.raises(WebSocketError) as raised:
                await client.ws_round_trip()
        finally:
            await client.close()
    assert raised.value.kind == "timeout"


async def test_a_peer_closing_with_a_code_is_closed_with_that_code() -> None:
    """A peer that closes the socket instead of answering gives kind "closed" and its code."""

    async def hang_up(connection: ServerConnection, message: dict[str, object]) -> None:
        del message
        await connection.close(4001, "go away")

    async with websocket_peer(hang_up) as urls:
        client = await peer_client(urls)
        try:
            with pytest.raises(WebSocketError) as raised:
                await client.ws_round_trip()
        finally:
            await client.close()
    assert (raised.value.kind, raised.value.close_code) == ("closed", 4001)
