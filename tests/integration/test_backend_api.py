"""The backend's HTTP and WebSocket contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.integration.support import Stack, bearer


async def _round_trip(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def test_me_reports_the_verified_identity(stack: Stack) -> None:
    """/api/me answers with the token's identity; no token is 401 + WWW-Authenticate."""
    session = await stack.new_session()
    me = await stack.me(session["access_token"])
    assert me.status_code == 200
    assert me.json()["sub"] == session["user_id"]
    assert me.json()["username"] == session["username"]
    assert me.json()["sid"] == session["session_id"]
    anonymous = await stack.http.get(f"{stack.backend_url}/api/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "missing_token"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_notes_are_stored_per_user_and_paged(stack: Stack) -> None:
    """Notes belong to their author, come back oldest first, and page by id."""
    alice, bob = await stack.new_session(), await stack.new_session()
    for i in range(5):
        created = await stack.http.post(
            f"{stack.backend_url}/api/notes",
            headers=bearer(alice["access_token"]),
            json={"text": f"a{i}"},
        )
        assert created.status_code == 201
        assert created.json()["text"] == f"a{i}"
    await stack.http.post(
        f"{stack.backend_url}/api/notes", headers=bearer(bob["access_token"]), json={"text": "b0"}
    )
    page = (
        await stack.http.get(
            f"{stack.backend_url}/api/notes?limit=3", headers=bearer(alice["access_token"])
        )
    ).json()
    assert [n["text"] for n in page["notes"]] == ["a0", "a1", "a2"]
    rest = (
        await stack.http.get(
            f"{stack.backend_url}/api/notes?after={page['next_after']}&limit=3",
            headers=bearer(alice["access_token"]),
        )
    ).json()
    assert [n["text"] for n in rest["notes"]] == ["a3", "a4"]
    assert rest["next_after"] is None
    bobs = (
        await stack.http.get(f"{stack.backend_url}/api/notes", headers=bearer(bob["access_token"]))
    ).json()
    assert [n["text"] for n in bobs["notes"]] == ["b0"]


async def test_notes_reject_bad_input_with_4xx(stack: Stack) -> None:
    """Empty, over-long or non-string text is 400; a bad page size is 400; never a 500."""
    session = await stack.new_session()
    headers = bearer(session["access_token"])
    for body in ({"text": ""}, {"text": "x" * 2001}, {"text": 5}, {}):
        response = await stack.http.post(
            f"{stack.backend_url}/api/notes", headers=headers, json=body
        )
        assert response.status_code == 400, body
    for query in ("limit=0x10", "limit=5000", "after=-3"):
        response = await stack.http.get(f"{stack.backend_url}/api/notes?{query}", headers=headers)
        assert response.status_code == 400, query


async def test_websocket_round_trips_echo_the_request_id(stack: Stack) -> None:
    """Ping ids of any JSON type come back unchanged; notes sent over the socket are persisted."""
    session = await stack.new_session()
    async with stack.ws(session["access_token"]) as ws:
        for msg_id in (1, "two", 3.5, None, ["x"]):
            assert await _round_trip(ws, {"type": "ping", "id": msg_id}) == {
                "type": "pong",
                "id": msg_id,
            }
        saved = await _round_trip(ws, {"type": "note", "id": 9, "text": "via socket"})
        assert saved["type"] == "note_saved"
        assert saved["id"] == 9
        unknown = await _round_trip(ws, {"type": "dance", "id": 10})
        assert unknown["error"] == "unknown_type"
        assert unknown["id"] == 10
        await ws.send("not json")
        assert json.loads(await ws.recv())["error"] == "bad_message"
        # the socket is still usable after bad messages
        assert (await _round_trip(ws, {"type": "ping", "id": 11}))["type"] == "pong"
    notes = (
        await stack.http.get(
            f"{stack.backend_url}/api/notes", headers=bearer(session["access_token"])
        )
    ).json()["notes"]
    assert [(n["id"], n["text"]) for n in notes] == [(saved["note_id"], "via socket")]


async def test_websocket_reauth_accepts_only_the_same_subject(stack: Stack) -> None:
    """A fresh token of the same user extends the socket; another user's is refused, socket kept."""
    session = await stack.new_session()
    stranger = await stack.new_session()
    async with stack.ws(session["access_token"]) as ws:
        fresh = await stack.login(session["username"])
        ok = await _round_trip(ws, {"type": "reauth", "id": 1, "token": fresh["access_token"]})
        assert ok["type"] == "reauth_ok"
        refused = await _round_trip(
            ws, {"type": "reauth", "id": 2, "token": stranger["access_token"]}
        )
        assert refused["error"] == "invalid_token"
        bogus = await _round_trip(ws, {"type": "reauth", "id": 3, "token": "x.y.z"})
        assert bogus["error"] == "invalid_token"
        assert (await _round_trip(ws, {"type": "ping", "id": 4}))["type"] == "pong"


async def test_login_and_refresh_proxies_pass_auth_answers_through(stack: Stack) -> None:
    """Through the backend: login 200, bad password 401 from auth, refresh 200, bad body 4xx."""
    username = await stack.register()
    good = await stack.http.post(
        f"{stack.backend_url}/api/login",
        json={"username": username, "password": "correct horse battery"},
    )
    assert good.status_code == 200
    bad = await stack.http.post(
        f"{stack.backend_url}/api/login", json={"username": username, "password": "wrong horse"}
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_credentials"
    refreshed = await stack.http.post(
        f"{stack.backend_url}/api/refresh", json={"refresh_token": good.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
    malformed = await stack.http.post(
        f"{stack.backend_url}/api/login", content=b"{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    not_json = await stack.http.post(f"{stack.backend_url}/api/login", content=b"user=x")
    assert not_json.status_code == 415


async def test_health_reports_dependencies_and_metrics_expose_them(stack: Stack) -> None:
    """/health is ok: breaker closed, keys fresh, feed read, sockets counted; /metrics agrees."""
    session = await stack.new_session()
    assert (await stack.me(session["access_token"])).status_code == 200
    async with stack.ws(session["access_token"]):
        health = await stack.health()
        series = await stack.backend_metrics()
    assert health["status"] == "ok"
    assert health["database"]["status"] == "ok"
    assert health["breaker"]["state"] == "closed"
    assert health["keys"]["count"] == 2
    assert health["keys"]["source"] == "auth"
    assert health["keys"]["age_s"] < 60
    assert health["revocations"]["age_s"] < 5
    assert health["websockets"] == 1
    assert series["authdrill_websockets_open"] == 1
    me = "method=GET,route=/api/me,service=backend"
    assert series[f"authdrill_http_request_duration_seconds_count{{{me}}}"] >= 1
    assert series[f"authdrill_http_requests_total{{{me},status=200}}"] >= 1
    assert 0 <= series["authdrill_keyset_age_seconds"] < 60
    assert 0 <= series["authdrill_revocation_feed_age_seconds"] < 5
    assert series["authdrill_breaker_state"] == 0


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_sqlite_databases_run_in_wal_mode(stack: Stack) -> None:
    """Both services' SQLite files are in WAL mode, so readers never wait for a writer."""
    session = await stack.new_session()  # a write to each database
    note = await stack.http.post(
        f"{stack.backend_url}/api/notes",
        json={"text": "wal"},
        headers=bearer(session["access_token"]),
    )
    assert note.status_code == 201, note.text
    for url in (stack.auth_db, stack.backend_db):
        path = make_url(url).database
        assert path is not None
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",), path
