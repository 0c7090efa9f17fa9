"""The reference stack through an auth outage: real processes, real SIGKILL."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.support import Stack, StackFactory, bearer
from tests.support import TIME_UNIT, eventually


async def _ws_round_trip(ws: object, message: dict[str, object]) -> dict[str, object]:
    await ws.send(json.dumps(message))  # type: ignore[attr-defined]
    reply: dict[str, object] = json.loads(await ws.recv())  # type: ignore[attr-defined]
    return reply


async def test_existing_sessions_keep_working_when_auth_is_killed(stack: Stack) -> None:
    """With auth SIGKILLed, a token keeps working on /api/me, notes and the same WebSocket."""
    session = await stack.new_session()
    token = session["access_token"]
    async with stack.ws(token) as ws:
        assert await _ws_round_trip(ws, {"type": "ping", "id": "before"}) == {
            "type": "pong",
            "id": "before",
        }
        report = await stack.auth.kill()
        assert report.port_refusing_s is not None, "auth's port still accepted connections"
        assert not stack.auth.running

        me = await stack.me(token)
        assert me.status_code == 200
        assert me.json()["username"] == session["username"]
        created = await stack.http.post(
            f"{stack.backend_url}/api/notes",
            headers=bearer(token),
            json={"text": "written in the outage"},
        )
        assert created.status_code == 201
        listed = await stack.http.get(f"{stack.backend_url}/api/notes", headers=bearer(token))
        assert [n["text"] for n in listed.json()["notes"]] == ["written in the outage"]

        assert await _ws_round_trip(ws, {"type": "ping", "id": 42}) == {"type": "pong", "id": 42}
        saved = await _ws_round_trip(ws, {"type": "note", "id": "n1", "text": "over the socket"})
        assert saved["type"] == "note_saved"
        assert saved["id"] == "n1"
        assert isinstance(saved["note_id"], int)


async def test_logins_fail_fast_with_503_while_auth_is_down(stack: Stack) -> None:
    """In the outage /api/login answers 503 + Retry-After + JSON at once; the breaker opens."""
    username = await stack.register()
    await stack.auth.kill()
    for attempt in range(12):
        started = time.perf_counter()
        response = await stack.http.post(
            f"{stack.backend_url}/api/login",
            json={"username": username, "password": "correct horse battery"},
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 503, (
            f"attempt {attempt}: {response.status_code} {response.text}"
        )
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"] == "auth_unavailable"
        assert elapsed < 1.0 * TIME_UNIT, f"attempt {attempt} took {elapsed:.3f} s: that is a hang"
    health = await stack.health()
    assert health["breaker"]["state"] == "open"
    assert health["status"] == "degraded"
    ready = await stack.http.get(f"{stack.backend_url}/health/ready")
    assert ready.status_code == 200, "an auth outage must not take the backend out of rotation"


async def test_auth_restart_keeps_keys_and_the_breaker_closes_by_itself(stack: Stack) -> None:
    """Restarted auth signs with the same keys; the breaker closes with no traffic; login works."""
    session = await stack.new_session()
    kids_before = {
        k["kid"]
        for k in (await stack.http.get(f"{stack.auth_url}/.well-known/jwks.json")).json()["keys"]
    }
    await stack.auth.kill()
    await eventually(
        lambda: _login_attempt_opens_breaker(stack, session["username"]),
        within_s=5,
        what="breaker opens after failed logins",
    )
    opened = await stack.backend_metrics()
    assert opened["authdrill_breaker_state"] == 2  # open
    assert opened[_transition("closed", "open")] >= 1

    await stack.auth.start()  # same spec, same port, same data directory
    kids_after = {
        k["kid"]
        for k in (await stack.http.get(f"{stack.auth_url}/.well-known/jwks.json")).json()["keys"]
    }
    assert kids_after == kids_before
    # auth itself still accepts a token it signed before the crash (it verifies it to log out)
    logout = await stack.http.post(
        f"{stack.auth_url}/logout", headers=bearer(session["access_token"])
    )
    assert logout.status_code == 204

    async def closed() -> bool:
        return (await stack.health())["breaker"]["state"] == "closed"

    await eventually(closed, within_s=5, what="breaker closes by itself once auth is back")
    pair = await stack.login(session["username"], via="backend")
    assert (await stack.me(pair["access_token"])).status_code == 200
    metrics = await stack.backend_metrics()
    assert metrics["authdrill_breaker_state"] == 0  # closed
    assert metrics[_transition("open", "half_open")] >= 1
    assert metrics[_transition("half_open", "closed")] >= 1


def _transition(source: str, target: str) -> str:
    return f"authdrill_breaker_transitions_total{{from_state={source},to_state={target}}}"


async def _published_kids(stack: Stack) -> set[str]:
    response = await stack.http.get(f"{stack.auth_url}/.well-known/jwks.json")
    return {key["kid"] for key in response.json()["keys"]}


async def _login_attempt_opens_breaker(stack: Stack, username: str) -> bool:
    await stack.http.post(
        f"{stack.backend_url}/api/login",
        json={"username": username, "password": "correct horse battery"},
    )
    return (await stack.health())["breaker"]["state"] == "open"


async def test_backend_restarted_during_the_outage_still_verifies(stack: Stack) -> None:
    """A backend restarted while auth is down verifies tokens from its persisted key set."""
    session = await stack.new_session()
    assert (await stack.me(session["access_token"])).status_code == 200
    await stack.auth.kill()
    await stack.backend.restart()

    me = await stack.me(session["access_token"])
    assert me.status_code == 200, me.text
    health = await stack.health()
    assert health["keys"]["source"] == "disk"
    assert health["keys"]["usable"] is True
    login = await stack.http.post(
        f"{stack.backend_url}/api/login",
        json={"username": session["username"], "password": "x" * 10},
    )
    assert login.status_code == 503


async def test_revocations_survive_a_backend_restart_during_the_outage(stack: Stack) -> None:
    """A session revoked before the outage stays rejected by a backend restarted during it."""
    session = await stack.new_session()
    token = session["access_token"]
    assert (await stack.me(token)).status_code == 200
    await stack.http.post(
        f"{stack.auth_url}/logout", json={"refresh_token": session["refresh_token"]}
    )

    async def rejected() -> bool:
        return (await stack.me(token)).status_code == 401

    await eventually(rejected, within_s=2, what="backend rejects the logged-out token")
    await stack.auth.kill()
    await stack.backend.restart()
    response = await stack.me(token)
    assert response.status_code == 401
    assert response.json()["message"] == "revoked"


async def test_backend_without_any_key_set_answers_503_not_401(stack_factory: StackFactory) -> None:
    """A backend first started during the outage is ready (own DB) but answers 503, not 401."""
    stack = await stack_factory(start_backend=False)
    session = await stack.new_session()
    await stack.auth.kill()
    await stack.start_backend()  # it has never seen a key set
    assert (await stack.http.get(f"{stack.backend_url}/health/ready")).status_code == 200
    response = await stack.me(session["access_token"])
    assert response.status_code == 503
    assert response.json()["error"] == "keys_unavailable"
    assert (await stack.health())["keys"]["usable"] is False


@pytest.mark.parametrize("ttl", [3])
async def test_outage_does_not_extend_a_token_past_its_expiry(
    stack_factory: StackFactory, ttl: int
) -> None:
    """In an outage an expired token is still rejected: stale keys never extend its life."""
    stack = await stack_factory(
        auth_args=("--access-ttl", str(ttl), "--clock-leeway", "1"),
        backend_args=("--clock-leeway", "1"),
    )
    session = await stack.new_session()
    assert (await stack.me(session["access_token"])).status_code == 200
    await stack.auth.kill()

    async def expired() -> bool:
        response = await stack.me(session["access_token"])
        return response.status_code == 401 and response.json()["message"] == "expired"

    # exp is ttl s after issue; the cache drops the token at exp, full verification allows
    # the 1 s clock leeway: the token must be refused within ttl + leeway (+ margin).
    await eventually(
        expired, within_s=ttl + 2, what="token expires during the outage", interval_s=0.1
    )


# The backend refreshes its key set every REFRESH_S while auth is up, so when auth dies
# the set is at most about REFRESH_S old; it is trusted until it is STALE_BOUND_S old.
# The gap (about 2 units) is what the "still works" check below has to happen in.
KEYS_REFRESH_S = 0.5 * TIME_UNIT
KEYS_STALE_BOUND_S = 2.5 * TIME_UNIT


# The key set lives in the backend's memory and data directory, not in its database.
@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_key_set_past_its_maximum_staleness_answers_503_not_401(
    stack_factory: StackFactory,
) -> None:
    """In an outage a token works while the key set is young enough, then gets 503, never 401."""
    stack = await stack_factory(
        backend_args=(
            "--jwks-refresh-interval", str(KEYS_REFRESH_S),
            "--jwks-max-staleness", str(KEYS_STALE_BOUND_S),
        )
    )  # fmt: skip
    seen = await stack.new_session()  # presented before the bound: verified, then cached
    unseen = await stack.new_session()  # first presented after the bound: full verification
    assert (await stack.me(seen["access_token"])).status_code == 200
    assert (await stack.health())["keys"]["source"] == "auth"
    await stack.auth.kill()

    # (a) straight after the kill the set is at most about one refresh interval old
    still = await stack.me(seen["access_token"])
    assert still.status_code == 200, still.text
    keys = (await stack.health())["keys"]
    assert keys["usable"] is True
    assert keys["age_s"] < KEYS_STALE_BOUND_S

    # (b) once the set is older than the bound the backend cannot judge: 503, never 401
    async def unavailable() -> httpx.Response | None:
        response = await stack.me(seen["access_token"])
        assert response.status_code in {200, 503}, f"{response.status_code} {response.text}"
        return response if response.status_code == 503 else None

    response = await eventually(
        unavailable, within_s=KEYS_STALE_BOUND_S / TIME_UNIT + 2, what="stale key set gives 503"
    )
    _assert_keys_unavailable(response)
    _assert_keys_unavailable(await stack.me(unseen["access_token"]))
    with pytest.raises(InvalidStatus) as refused:
        async with stack.ws(seen["access_token"]):
            pass
    assert refused.value.response.status_code == 503
    assert json.loads(refused.value.response.body)["error"] == "keys_unavailable"

    health = await stack.health()
    assert health["status"] == "degraded"
    assert health["keys"]["usable"] is False
    assert health["keys"]["max_staleness_s"] == KEYS_STALE_BOUND_S
    assert health["keys"]["age_s"] > KEYS_STALE_BOUND_S
    ready = await stack.http.get(f"{stack.backend_url}/health/ready")
    assert ready.status_code == 200, "a stale key set must not take the backend out of rotation"


def _assert_keys_unavailable(response: httpx.Response) -> None:
    """``response`` is the documented "cannot judge" answer: 503, Retry-After, JSON error."""
    assert response.status_code == 503, f"{response.status_code} {response.text}"
    assert response.json()["error"] == "keys_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers


# A frozen (SIGSTOPped) auth still accepts TCP connections in the kernel but never answers:
# every call from the backend runs into its whole-request timeout, shortened here.
FROZEN_AUTH_TIMEOUT_S = 1.5 * TIME_UNIT


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_frozen_auth_never_hangs_a_login_and_the_breaker_opens_then_closes(
    stack_factory: StackFactory,
) -> None:
    """Auth SIGSTOPped: sessions keep working, logins are 503 within the auth timeout and
    then at once (breaker open); after SIGCONT the breaker closes by itself."""
    stack = await stack_factory(backend_args=("--auth-timeout", str(FROZEN_AUTH_TIMEOUT_S)))
    session = await stack.new_session()
    token = session["access_token"]

    async def timed_login() -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = await stack.http.post(
            f"{stack.backend_url}/api/login",
            json={"username": session["username"], "password": "correct horse battery"},
        )
        return response, time.perf_counter() - started

    async with stack.ws(token) as ws:
        async with stack.supervisor.frozen("auth"):
            assert (await stack.me(token)).status_code == 200
            assert await _ws_round_trip(ws, {"type": "ping", "id": "frozen"}) == {
                "type": "pong",
                "id": "frozen",
            }
            first = await asyncio.gather(*(timed_login() for _ in range(5)))
            for response, elapsed in first:
                assert response.status_code == 503, f"{response.status_code} {response.text}"
                assert response.json()["error"] == "auth_unavailable"
                assert int(response.headers["retry-after"]) >= 1
                assert elapsed < FROZEN_AUTH_TIMEOUT_S + 1.0 * TIME_UNIT, f"a hang: {elapsed:.2f} s"

            async def opened() -> bool:
                return (await stack.health())["breaker"]["state"] == "open"

            await eventually(opened, within_s=2, what="breaker opens on timed-out calls")
            refused, elapsed = await timed_login()
            assert refused.status_code == 503
            assert elapsed < 0.5 * TIME_UNIT, f"refusal with the breaker open took {elapsed:.2f} s"
            assert (await stack.http.get(f"{stack.backend_url}/health/ready")).status_code == 200

        async def closed() -> bool:
            return (await stack.health())["breaker"]["state"] == "closed"

        await eventually(closed, within_s=5, what="breaker closes by itself after SIGCONT")
        assert (await timed_login())[0].status_code == 200
        assert await _ws_round_trip(ws, {"type": "ping", "id": "thawed"}) == {
            "type": "pong",
            "id": "thawed",
        }
