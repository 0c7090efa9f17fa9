"""Service hygiene against the real stack: key files, the JWKS, logs and input validation."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sqlite3
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from authdrill.stack.jose import ALLOWED_ALGORITHMS, b64url_decode, b64url_encode
from tests.integration.crafting import running_stack
from tests.integration.support import Stack, bearer
from tests.support import TIME_UNIT, eventually

shared = pytest.mark.asyncio(loop_scope="module")
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def db_kind() -> str:
    """Security tests run on SQLite only."""
    return "sqlite"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One stack for the read-only and bad-input tests here."""
    async with running_stack(tmp_path_factory.mktemp("hygiene")) as stack:
        yield stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def notes_token(shared_stack: Stack) -> str:
    """An access token for ``/api/notes``."""
    return str((await shared_stack.new_session())["access_token"])


# ---------------------------------------------------------------------- keys and JWKS
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@shared
async def test_signing_keys_are_stored_owner_only(shared_stack: Stack) -> None:
    """The key directory is 0700; every private key file and the manifest are 0600."""
    keys = shared_stack.auth_dir / "keys"
    assert _mode(keys) == 0o700, oct(_mode(keys))
    pems = sorted(keys.glob("*.pem"))
    assert len(pems) >= 2, "auth keeps a current and a next key"
    for path in [*pems, keys / "keyring.json"]:
        assert _mode(path) == 0o600, f"{path.name}: {oct(_mode(path))}"
    lock = keys / ".lock"
    assert not lock.exists() or lock.stat().st_size == 0, "the lock file holds nothing"


@shared
async def test_jwks_holds_public_parts_only_each_with_kid_alg_use(shared_stack: Stack) -> None:
    """The JWKS lists every published key as a public JWK with kid, alg and use, cacheably."""
    response = await shared_stack.http.get(f"{shared_stack.auth_url}/.well-known/jwks.json")
    assert response.status_code == 200
    assert "PRIVATE KEY" not in response.text
    keys = response.json()["keys"]
    manifest = json.loads((shared_stack.auth_dir / "keys" / "keyring.json").read_text())
    assert {k["kid"] for k in keys} == {k["kid"] for k in manifest["keys"]}
    for jwk in keys:
        assert not PRIVATE_JWK_MEMBERS & jwk.keys(), sorted(jwk)
        assert isinstance(jwk["kid"], str)
        assert jwk["kid"]
        assert jwk["alg"] in ALLOWED_ALGORITHMS
        assert jwk["use"] == "sig"
    max_age = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
    assert max_age is not None, response.headers.get("cache-control")
    assert int(max_age.group(1)) > 0


# ---------------------------------------------------------------------- logs
def _pem_bodies(keys_dir: Path) -> list[str]:
    """The base64 lines of every private key file (a leaked key need not say PRIVATE KEY)."""
    lines: list[str] = []
    for path in keys_dir.glob("*.pem"):
        lines += [line for line in path.read_text().splitlines() if not line.startswith("-----")]
    return lines


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    raw = b64url_decode(sig)
    return f"{head}.{body}.{b64url_encode(bytes([raw[0] ^ 1]) + raw[1:])}"


async def _exercise(stack: Stack, password: str, wrong_password: str) -> list[str]:
    """Register, log in, refresh, use, open WebSockets, log out; every token seen."""
    username = await stack.register(password=password)
    first = await stack.login(username, password)
    second = await stack.login(username, password, via="backend")
    failed = await stack.http.post(
        f"{stack.auth_url}/login", json={"username": username, "password": wrong_password}
    )
    assert failed.status_code == 401
    refreshed = await stack.http.post(
        f"{stack.auth_url}/refresh", json={"refresh_token": first["refresh_token"]}
    )
    proxied = await stack.http.post(
        f"{stack.backend_url}/api/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert refreshed.status_code == proxied.status_code == 200
    third, fourth = refreshed.json(), proxied.json()
    tampered = _tampered(third["access_token"])
    assert (await stack.me(tampered)).status_code == 401
    note = await stack.http.post(
        f"{stack.backend_url}/api/notes", headers=bearer(third["access_token"]), json={"text": "hi"}
    )
    assert note.status_code == 201
    async with stack.ws(third["access_token"]) as ws:
        await ws.send(json.dumps({"type": "ping", "id": 1}))
        await ws.recv()
    query = f"ws://127.0.0.1:{stack.backend_port}/ws?access_token={fourth['access_token']}"
    with pytest.raises(InvalidStatus):
        async with connect(query, proxy=None, open_timeout=5 * TIME_UNIT):
            pass
    out_by_body = await stack.http.post(
        f"{stack.auth_url}/logout", json={"refresh_token": third["refresh_token"]}
    )
    out_by_bearer = await stack.http.post(
        f"{stack.auth_url}/logout", headers=bearer(fourth["access_token"])
    )
    assert out_by_body.status_code == out_by_bearer.status_code == 204

    async def revoked() -> bool:
        return (await stack.me(fourth["access_token"])).status_code == 401

    await eventually(revoked, within_s=2, what="backend learns of the logout")
    return [
        token
        for pair in (first, second, third, fourth)
        for token in (pair["access_token"], pair["refresh_token"])
    ] + [tampered]


@dataclass(frozen=True, slots=True)
class LoggedRun:
    """Both services' logs after a full session at DEBUG level, and what must not be there."""

    logs: dict[str, str]
    secrets: dict[str, str]
    password_hashes: list[str]

    def leaks(self, values: dict[str, str]) -> dict[str, list[str]]:
        """For each service, the names of ``values`` its log contains."""
        found = {s: [n for n, v in values.items() if v in text] for s, text in self.logs.items()}
        return {service: names for service, names in found.items() if names}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def logged_run(tmp_path_factory: pytest.TempPathFactory) -> LoggedRun:
    """Register, log in, refresh, use, WebSocket, log out, at DEBUG; then stop both services."""
    debug = ("--log-level", "DEBUG")
    root = tmp_path_factory.mktemp("logs")
    async with running_stack(root, auth_args=debug, backend_args=debug) as stack:
        password, wrong_password = f"pw-{secrets.token_hex(8)}", f"wrong-{secrets.token_hex(8)}"
        tokens = await _exercise(stack, password, wrong_password)
        pem_lines = _pem_bodies(stack.auth_dir / "keys")
        uri = f"{(stack.auth_dir / 'auth.db').resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            hashes = [row[0] for row in db.execute("SELECT password_hash FROM users")]
        await stack.backend.stop()
        await stack.auth.stop()  # stopped: every line is written
        logs = {
            "auth": stack.auth.log_path.read_text(),
            "backend": stack.backend.log_path.read_text(),
        }
    found = {
        "password": password,
        "wrong password": wrong_password,
        **{f"token {n}": token for n, token in enumerate(tokens)},
        **{f"signature of token {n}": t.split(".")[-1] for n, t in enumerate(tokens) if "." in t},
        **{f"private key line {n}": line for n, line in enumerate(pem_lines)},
        "PEM marker": "PRIVATE KEY",
    }
    return LoggedRun(logs=logs, secrets=found, password_hashes=hashes)


@shared
async def test_logs_hold_no_passwords_tokens_or_keys(logged_run: LoggedRun) -> None:
    """After a full session at DEBUG level, neither log holds a password, a token or a key."""
    assert "auth ready on" in logged_run.logs["auth"]
    assert "sessions revoked" in logged_run.logs["backend"], "the run was logged at all"
    leaks = logged_run.leaks(logged_run.secrets)
    assert not leaks, f"secrets in logs: {leaks}"


@shared
async def test_logs_hold_no_password_hashes(logged_run: LoggedRun) -> None:
    """After a full session at DEBUG level, neither log holds a stored Argon2id password hash.

    A hash in a log is an offline-cracking target outside the database's protection.
    """
    assert logged_run.password_hashes
    hashes = {f"password hash {n}": h for n, h in enumerate(logged_run.password_hashes)}
    leaks = logged_run.leaks(hashes)
    assert not leaks, f"password hashes in logs: {leaks}"


# ---------------------------------------------------------------------- bad input
ENDPOINTS = (
    ("auth", "/register"),
    ("auth", "/login"),
    ("auth", "/refresh"),
    ("auth", "/logout"),
    ("backend", "/api/notes"),
    ("backend", "/api/login"),
    ("backend", "/api/refresh"),
)
JSON = "application/json"
WRONG_TYPES = {"username": 1, "password": ["x"], "refresh_token": {"a": 1}, "text": 5}
BAD_BODIES: dict[str, tuple[bytes, str, int, str]] = {
    "not-json": (b'{"username": "a",', JSON, 400, "malformed_json"),
    "not-utf8": (b"\xff\xfe\xfd", JSON, 400, "malformed_json"),
    "json-array": (b'["username", "password"]', JSON, 400, "malformed_json"),
    "json-null": (b"null", JSON, 400, "malformed_json"),
    "missing-fields": (b"{}", JSON, 400, "invalid_request"),
    "wrong-types": (json.dumps(WRONG_TYPES).encode(), JSON, 400, "invalid_request"),
    "20kB-body": (json.dumps({"text": "x" * 20_000}).encode(), JSON, 413, "body_too_large"),
    "wrong-content-type": (b'{"text": "hi"}', "text/plain", 415, "unsupported_media_type"),
    "no-content-type": (b'{"text": "hi"}', "", 415, "unsupported_media_type"),
}


def _url(stack: Stack, service: str, path: str) -> str:
    return f"{stack.auth_url if service == 'auth' else stack.backend_url}{path}"


@shared
@pytest.mark.parametrize("body_case", list(BAD_BODIES))
@pytest.mark.parametrize(("service", "path"), ENDPOINTS, ids=[p for _, p in ENDPOINTS])
async def test_malformed_body_gets_a_4xx_json_error(
    shared_stack: Stack, notes_token: str, service: str, path: str, body_case: str
) -> None:
    """Each POST endpoint answers a malformed body with its 4xx and a JSON error, never a 500."""
    content, content_type, status, error = BAD_BODIES[body_case]
    headers = bearer(notes_token) if path == "/api/notes" else {}
    if content_type:
        headers["content-type"] = content_type
    response = await shared_stack.http.post(
        _url(shared_stack, service, path), content=content, headers=headers
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert "Traceback" not in response.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
request_bodies = json_values | st.fixed_dictionaries(
    {}, optional={"username": json_values, "password": json_values, "text": json_values}
)


@pytest.mark.parametrize(("service", "path"), [("auth", "/login"), ("backend", "/api/notes")])
@settings(max_examples=40, deadline=None, database=None)
@given(body=request_bodies)
def test_random_json_bodies_never_get_a_5xx(
    shared_stack: Stack, notes_token: str, service: str, path: str, body: Any
) -> None:
    """Any JSON value posted to /login or /api/notes gets a JSON answer below 500."""
    with httpx.Client(trust_env=False, timeout=10 * TIME_UNIT) as client:
        response = client.post(
            _url(shared_stack, service, path),
            content=json.dumps(body).encode(),
            headers={"content-type": JSON, **bearer(notes_token)},
        )
    assert response.status_code < 500, f"{response.status_code} {response.text}"
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)
