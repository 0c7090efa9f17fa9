"""The auth service's HTTP contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

from authdrill.stack.jose import b64url_decode
from tests.integration.support import PASSWORD, Stack, bearer


def _decode(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


async def test_register_then_login_issues_a_well_formed_token_pair(stack: Stack) -> None:
    """Login returns an ES256 at+jwt with every required claim, an opaque refresh token."""
    response = await stack.http.post(
        f"{stack.auth_url}/register", json={"username": "Dana.Smith", "password": PASSWORD}
    )
    assert response.status_code == 201
    assert response.json()["username"] == "dana.smith"
    user_id = response.json()["user_id"]

    login = await stack.http.post(
        f"{stack.auth_url}/login", json={"username": "DANA.smith", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"
    body = login.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user_id"] == user_id
    header, claims = _decode(body["access_token"])
    kids = {
        k["kid"]
        for k in (await stack.http.get(f"{stack.auth_url}/.well-known/jwks.json")).json()["keys"]
    }
    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    assert header["kid"] in kids
    assert claims["iss"] == "authdrill-auth"
    assert claims["aud"] == "authdrill-backend"
    assert claims["sub"] == user_id
    assert claims["sid"] == body["session_id"]
    assert claims["token_use"] == "access"
    assert isinstance(claims["jti"], str)
    assert claims["exp"] - claims["iat"] == 900  # type: ignore[operator]
    assert abs(claims["iat"] - time.time()) < 60  # type: ignore[operator]
    assert "." not in body["refresh_token"]  # opaque, not a JWT


async def test_registration_refuses_duplicates_and_weak_passwords(stack: Stack) -> None:
    """A taken username (any case) is 409; a short password or odd username is 400 with reasons."""
    await stack.register("erin")
    taken = await stack.http.post(
        f"{stack.auth_url}/register", json={"username": "ERIN", "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert taken.json()["error"] == "username_taken"
    weak = await stack.http.post(
        f"{stack.auth_url}/register", json={"username": "frank", "password": "short"}
    )
    assert weak.status_code == 400
    assert "at least 8" in weak.json()["message"]
    odd = await stack.http.post(
        f"{stack.auth_url}/register", json={"username": "a b", "password": PASSWORD}
    )
    assert odd.status_code == 400
    assert "username" in odd.json()["message"]


async def test_refresh_keeps_the_session_and_issues_a_new_pair(stack: Stack) -> None:
    """A refresh returns new tokens for the same session id, and the new access token works."""
    session = await stack.new_session()
    refreshed = await stack.http.post(
        f"{stack.auth_url}/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 200
    pair = refreshed.json()
    assert pair["session_id"] == session["session_id"]
    assert pair["refresh_token"] != session["refresh_token"]
    assert pair["access_token"] != session["access_token"]
    assert (await stack.me(pair["access_token"])).json()["sid"] == session["session_id"]


async def test_jwks_is_cacheable_and_conditional(stack: Stack) -> None:
    """The JWKS carries Cache-Control and an ETag, and If-None-Match answers 304."""
    first = await stack.http.get(f"{stack.auth_url}/.well-known/jwks.json")
    assert first.status_code == 200
    assert "max-age=300" in first.headers["cache-control"]
    etag = first.headers["etag"]
    again = await stack.http.get(
        f"{stack.auth_url}/.well-known/jwks.json", headers={"if-none-match": etag}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert len(first.json()["keys"]) == 2  # current and the published next


async def test_revocation_feed_pages_by_cursor(stack: Stack) -> None:
    """Logouts appear in the feed once, in order; asking after the cursor returns nothing new."""
    sessions = [await stack.new_session() for _ in range(3)]
    empty = (await stack.http.get(f"{stack.auth_url}/revocations?after=0")).json()
    assert empty["revoked"] == []
    for session in sessions:
        response = await stack.http.post(
            f"{stack.auth_url}/logout", json={"refresh_token": session["refresh_token"]}
        )
        assert response.status_code == 204
    page = (await stack.http.get(f"{stack.auth_url}/revocations?after=0")).json()
    assert [r["sid"] for r in page["revoked"]] == [s["session_id"] for s in sessions]
    assert page["more"] is False
    assert page["feed_id"] == empty["feed_id"]
    later = (await stack.http.get(f"{stack.auth_url}/revocations?after={page['cursor']}")).json()
    assert later["revoked"] == []
    assert later["cursor"] == page["cursor"]
    bad = await stack.http.get(f"{stack.auth_url}/revocations?after=-1")
    assert bad.status_code == 400


async def test_logout_is_idempotent_and_bearer_logout_works(stack: Stack) -> None:
    """Logging out twice is fine; a Bearer logout revokes its session; a bad Bearer is 401."""
    session = await stack.new_session()
    for _ in range(2):
        response = await stack.http.post(
            f"{stack.auth_url}/logout", json={"refresh_token": session["refresh_token"]}
        )
        assert response.status_code == 204
    other = await stack.new_session()
    response = await stack.http.post(
        f"{stack.auth_url}/logout", headers=bearer(other["access_token"])
    )
    assert response.status_code == 204
    feed = (await stack.http.get(f"{stack.auth_url}/revocations?after=0")).json()
    assert {r["sid"] for r in feed["revoked"]} == {session["session_id"], other["session_id"]}
    bad = await stack.http.post(f"{stack.auth_url}/logout", headers=bearer("not.a.token"))
    assert bad.status_code == 401


async def test_health_and_metrics(stack: Stack) -> None:
    """Liveness and readiness answer 200 and metrics count logins by outcome."""
    assert (await stack.http.get(f"{stack.auth_url}/health/live")).status_code == 200
    ready = await stack.http.get(f"{stack.auth_url}/health/ready")
    assert ready.json() == {"status": "ok", "database": "ok"}
    username = await stack.register()
    await stack.login(username)
    await stack.http.post(
        f"{stack.auth_url}/login", json={"username": username, "password": "wrong password"}
    )
    metrics = (await stack.http.get(f"{stack.auth_url}/metrics")).text
    assert 'authdrill_auth_logins_total{outcome="ok"} 1.0' in metrics
    assert 'authdrill_auth_logins_total{outcome="invalid_credentials"} 1.0' in metrics
    assert 'route="/login"' in metrics


async def test_unknown_routes_and_methods_answer_json(stack: Stack) -> None:
    """Unknown paths are a JSON 404 and wrong methods a JSON 405."""
    missing = await stack.http.get(f"{stack.auth_url}/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = await stack.http.get(f"{stack.auth_url}/login")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
