"""Sessions against the real stack: refresh tokens, rotation, revocation and WebSockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from authdrill.stack.db import normalize_url
from authdrill.stack.jose import b64url_decode, b64url_encode
from authdrill.testing import PostgresCluster
from tests.integration.crafting import assert_invalid_token, running_stack
from tests.integration.support import Stack, StackFactory, bearer
from tests.support import TIME_UNIT, eventually

shared = pytest.mark.asyncio(loop_scope="module")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def shared_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One stack per database for the tests here: each works on sessions of its own.

    Rotation, reuse detection and revocation are database work (reuse detection rests
    on an UPDATE's rowcount), so every test runs on SQLite and on PostgreSQL.
    """
    root = tmp_path_factory.mktemp(f"sessions-{request.param}")
    if request.param == "sqlite":
        async with running_stack(root) as stack:
            yield stack
        return
    # skipped without PostgreSQL binaries, a failure with AUTHDRILL_REQUIRE_POSTGRES=1
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    suffix = secrets.token_hex(4)
    async with running_stack(
        root,
        auth_db=cluster.create_database(f"auth_{suffix}"),
        backend_db=cluster.create_database(f"backend_{suffix}"),
    ) as stack:
        yield stack


# ---------------------------------------------------------------------- helpers
async def refresh(stack: Stack, token: str) -> httpx.Response:
    return await stack.http.post(f"{stack.auth_url}/refresh", json={"refresh_token": token})


def payload(access_token: str) -> dict[str, Any]:
    """The (unverified) claims of an access token."""
    decoded: dict[str, Any] = json.loads(b64url_decode(access_token.split(".")[1]))
    return decoded


async def revoked_within(stack: Stack, access_token: str, *, within_s: float) -> None:
    """Wait until the backend answers 401 ``revoked`` for ``access_token``."""

    async def rejected() -> httpx.Response | None:
        response = await stack.me(access_token)
        return response if response.status_code == 401 else None

    response = await eventually(rejected, within_s=within_s, what="backend sees the revocation")
    assert_invalid_token(response, "revoked")


async def auth_db_cells(database_url: str) -> list[tuple[str, str, Any]]:
    """Every cell of every table of auth's database: (table, column, value)."""
    cells: list[tuple[str, str, Any]] = []
    engine = create_async_engine(normalize_url(database_url))
    try:
        async with engine.connect() as conn:
            found = sa.MetaData()
            await conn.run_sync(found.reflect)
            assert found.tables, "auth's database has no tables: wrong database?"
            for table in found.sorted_tables:
                rows = (await conn.execute(sa.select(table))).mappings().all()
                cells += [(table.name, c, v) for row in rows for c, v in row.items()]
    finally:
        await engine.dispose()
    return cells


async def simultaneous_refreshes(
    stack: Stack, refresh_token: str, count: int
) -> list[tuple[int, dict[str, Any]]]:
    """``count`` refreshes of one token that reach auth together: (status, JSON body) each.

    Every connection is opened first and every request is then written without an await
    in between, so no request waits for another's handshake or client-side work.
    """
    body = json.dumps({"refresh_token": refresh_token}).encode()
    request = (
        f"POST /refresh HTTP/1.1\r\nHost: 127.0.0.1:{stack.auth_port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    streams = [await asyncio.open_connection("127.0.0.1", stack.auth_port) for _ in range(count)]
    for _reader, writer in streams:
        writer.write(request)
    replies = []
    for reader, writer in streams:
        async with asyncio.timeout(10 * TIME_UNIT):
            raw = await reader.read()
        writer.close()
        await writer.wait_closed()
        head, _, payload = raw.partition(b"\r\n\r\n")
        replies.append((int(head.split(b" ", 2)[1]), json.loads(payload)))
    return replies


async def ping(ws: ClientConnection, msg_id: int) -> None:
    await ws.send(json.dumps({"type": "ping", "id": msg_id}))
    assert json.loads(await ws.recv()) == {"type": "pong", "id": msg_id}


async def closed_with(ws: ClientConnection, *, within_s: float) -> int:
    """Wait for the server to close ``ws``; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(within_s * TIME_UNIT):
            await ws.recv()
    assert closed.value.rcvd is not None, "the server closed without a close frame"
    return closed.value.rcvd.code


# ---------------------------------------------------------------------- tokens
@shared
async def test_refresh_tokens_are_opaque_256_bit_and_distinct(shared_stack: Stack) -> None:
    """Twenty logins yield twenty distinct opaque refresh tokens of at least 256 bits each."""
    username = await shared_stack.register()
    tokens = [(await shared_stack.login(username))["refresh_token"] for _ in range(20)]
    assert len(set(tokens)) == 20
    for token in tokens:
        assert len(token) >= 43, token
        assert _BASE64URL.fullmatch(token), token  # opaque: no JWT dots, nothing to decode
        assert len(b64url_decode(token)) >= 32


@shared
async def test_access_tokens_live_minutes_not_hours(shared_stack: Stack) -> None:
    """An access token's lifetime (``expires_in`` and ``exp - iat``) is at most 15 minutes."""
    session = await shared_stack.new_session()
    claims = payload(session["access_token"])
    assert 0 < session["expires_in"] <= 15 * 60
    assert claims["exp"] - claims["iat"] == session["expires_in"]


@shared
async def test_refresh_tokens_are_stored_only_as_sha256_hashes(shared_stack: Stack) -> None:
    """No issued refresh token appears in auth's database; each one's SHA-256 hex does."""
    session = await shared_stack.new_session()
    issued = [session["refresh_token"]]
    for _ in range(2):
        response = await refresh(shared_stack, issued[-1])
        assert response.status_code == 200, response.text
        issued.append(response.json()["refresh_token"])

    cells = await auth_db_cells(shared_stack.auth_db)
    for token in issued:
        leaks = [(t, c) for t, c, v in cells if token in str(v)]
        assert not leaks, f"a raw refresh token is stored in {leaks}"
    hashes = {v for t, c, v in cells if (t, c) == ("refresh_tokens", "token_hash")}
    assert {hashlib.sha256(token.encode()).hexdigest() for token in issued} <= hashes


@shared
async def test_every_refresh_rotates_the_refresh_token(shared_stack: Stack) -> None:
    """Each refresh returns a new refresh token and a working access token of the same session."""
    session = await shared_stack.new_session()
    seen = [session["refresh_token"]]
    for _ in range(3):
        response = await refresh(shared_stack, seen[-1])
        assert response.status_code == 200, response.text
        pair = response.json()
        assert pair["refresh_token"] not in seen
        assert pair["session_id"] == session["session_id"]
        assert response.headers["cache-control"] == "no-store"
        me = await shared_stack.me(pair["access_token"])
        assert me.status_code == 200
        assert me.json()["sid"] == session["session_id"]
        seen.append(pair["refresh_token"])


@shared
async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    shared_stack: Stack,
) -> None:
    """Replaying a spent refresh token is 401 reused; the family's newest tokens die with it."""
    username = await shared_stack.register()
    victim = await shared_stack.login(username)
    bystander = await shared_stack.login(username)  # another session of the same user
    first = await refresh(shared_stack, victim["refresh_token"])
    second = await refresh(shared_stack, first.json()["refresh_token"])
    newest = second.json()
    assert (await shared_stack.me(newest["access_token"])).status_code == 200

    replay = await refresh(shared_stack, victim["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["error"] == "refresh_token_reused"

    after = await refresh(shared_stack, newest["refresh_token"])
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_grant"
    await revoked_within(shared_stack, newest["access_token"], within_s=2)
    assert (await shared_stack.me(bystander["access_token"])).status_code == 200
    assert (await refresh(shared_stack, bystander["refresh_token"])).status_code == 200


RACERS = 10  # auth's database pool size: each racer gets a connection at once
ROUNDS = 3  # a round whose transactions happen not to overlap proves less; three rarely all do


@shared
async def test_concurrent_refreshes_with_one_token_have_one_winner_and_revoke_the_family(
    shared_stack: Stack,
) -> None:
    """Simultaneous refreshes of one token: one wins, the others are refused as reuse.

    On PostgreSQL the requests overlap in separate transactions that may all read the
    token as unused; only the UPDATE's rowcount can tell the losers they lost. Losers
    that arrive after the family is revoked get ``invalid_grant``; the first is "reused".
    """
    username = await shared_stack.register()
    for _ in range(ROUNDS):
        session = await shared_stack.login(username)
        # a burst leaves auth's database pool with idle connections: no racer waits for one
        await asyncio.gather(
            *(shared_stack.http.get(f"{shared_stack.auth_url}/health/ready") for _ in range(RACERS))
        )
        replies = await simultaneous_refreshes(shared_stack, session["refresh_token"], RACERS)
        statuses = sorted(status for status, _ in replies)
        assert statuses == [200] + [401] * (RACERS - 1), replies
        errors = [body["error"] for status, body in replies if status == 401]
        assert "refresh_token_reused" in errors, errors
        assert set(errors) <= {"refresh_token_reused", "invalid_grant"}, errors
        (winner,) = (body for status, body in replies if status == 200)

        after = await refresh(shared_stack, winner["refresh_token"])
        assert after.status_code == 401
        assert after.json()["error"] == "invalid_grant"
        await revoked_within(shared_stack, winner["access_token"], within_s=2)


# ---------------------------------------------------------------------- logout
@shared
@pytest.mark.parametrize("credential", ["refresh_token_body", "bearer_access_token"])
async def test_logout_revokes_the_session(shared_stack: Stack, credential: str) -> None:
    """After logout the backend rejects the access token within 2 s and refresh is refused."""
    session = await shared_stack.new_session()
    assert (await shared_stack.me(session["access_token"])).status_code == 200
    if credential == "refresh_token_body":
        logout = await shared_stack.http.post(
            f"{shared_stack.auth_url}/logout", json={"refresh_token": session["refresh_token"]}
        )
    else:
        logout = await shared_stack.http.post(
            f"{shared_stack.auth_url}/logout", headers=bearer(session["access_token"])
        )
    assert logout.status_code == 204, logout.text

    await revoked_within(shared_stack, session["access_token"], within_s=2)
    again = await refresh(shared_stack, session["refresh_token"])
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_grant"


# ---------------------------------------------------------------------- websockets
@shared
async def test_logout_closes_the_sessions_websocket_with_4403(shared_stack: Stack) -> None:
    """Logging a session out closes its WebSocket with 4403 within 2 s; others stay open."""
    doomed = await shared_stack.new_session()
    other = await shared_stack.new_session()
    async with (
        shared_stack.ws(doomed["access_token"]) as ws,
        shared_stack.ws(other["access_token"]) as survivor,
    ):
        await ping(ws, 1)
        await ping(survivor, 1)
        logout = await shared_stack.http.post(
            f"{shared_stack.auth_url}/logout", json={"refresh_token": doomed["refresh_token"]}
        )
        assert logout.status_code == 204
        assert await closed_with(ws, within_s=2) == 4403
        await ping(survivor, 2)
    with pytest.raises(InvalidStatus) as refused:
        async with shared_stack.ws(doomed["access_token"]):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["message"] == "revoked"


def _bad_signature(token: str) -> str:
    head, body, sig = token.split(".")
    raw = b64url_decode(sig)
    return f"{head}.{body}.{b64url_encode(bytes([raw[0] ^ 1]) + raw[1:])}"


@shared
@pytest.mark.parametrize(
    ("how", "error", "message"),
    [
        ("no-token", "missing_token", None),
        ("garbage-token", "invalid_token", "malformed"),
        ("bad-signature", "invalid_token", "bad_signature"),
        ("token-only-in-query-string", "missing_token", None),
    ],
)
async def test_websocket_without_a_valid_header_token_is_refused_before_accept(
    shared_stack: Stack, how: str, error: str, message: str | None
) -> None:
    """A handshake without a valid Bearer header gets HTTP 401 instead of 101 Switching."""
    token = (await shared_stack.new_session())["access_token"]
    url = f"ws://127.0.0.1:{shared_stack.backend_port}/ws"
    headers: dict[str, str] = {}
    if how == "garbage-token":
        headers = bearer("not-a-token")
    elif how == "bad-signature":
        headers = bearer(_bad_signature(token))
    elif how == "token-only-in-query-string":
        url += f"?access_token={token}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers, proxy=None, open_timeout=5 * TIME_UNIT):
            pass
    response = refused.value.response
    assert response.status_code == 401
    body = json.loads(response.body)
    assert body["error"] == error
    if message is not None:
        assert body["message"] == message
    assert "bearer" in response.headers.get("www-authenticate", "").lower()
    async with shared_stack.ws(token) as ws:  # the same token in the header is accepted
        await ping(ws, 1)


async def test_websocket_is_closed_with_4401_when_its_token_expires(
    stack_factory: StackFactory,
) -> None:
    """A WebSocket whose 2 s access token expires is closed by the server with code 4401."""
    stack = await stack_factory(
        auth_args=("--access-ttl", "2", "--clock-leeway", "1"),
        backend_args=("--clock-leeway", "1"),
    )
    session = await stack.new_session()
    exp = payload(session["access_token"])["exp"]
    async with stack.ws(session["access_token"]) as ws:
        await ping(ws, 1)
        code = await closed_with(ws, within_s=2 + 2)
        closed_at = time.time()
    assert code == 4401
    assert closed_at >= exp - 0.5, "closed well before the token expired"
