"""Passwords and login against the real stack: Argon2id storage, uniform failures, throttling."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from authdrill.stack.jose import b64url_decode
from authdrill.stack.reference import auth_spec
from tests.integration.crafting import running_stack
from tests.integration.support import FAST_AUTH, PASSWORD, Stack, StackFactory
from tests.support import TIME_UNIT

shared = pytest.mark.asyncio(loop_scope="module")
# OWASP Password Storage Cheat Sheet: Argon2id (memory KiB, iterations) of equal strength
OWASP_ARGON2ID = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
_ARGON2ID = re.compile(
    r"\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<hash>[A-Za-z0-9+/]+)"
)
PAIR_LIMIT = 5  # auth's default failures per (account, client)
CLIENT_LIMIT = 10  # failures per client address, as the shared stack is started


@pytest.fixture
def db_kind() -> str:
    """Security tests run on SQLite only."""
    return "sqlite"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Auth trusts X-Forwarded-For from 127.0.0.1, so each test can be its own clients."""
    auth_args = ("--trusted-proxy", "127.0.0.1", "--login-failures-per-client", str(CLIENT_LIMIT))
    async with running_stack(tmp_path_factory.mktemp("passwords"), auth_args=auth_args) as stack:
        yield stack


# ---------------------------------------------------------------------- helpers
def stored_hash(auth_dir: Path, username: str) -> str:
    """The password hash auth keeps for ``username`` (read straight from its SQLite file)."""
    uri = f"{(auth_dir / 'auth.db').resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        row = db.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
    return str(row[0])


async def login(
    stack: Stack, username: str, password: str, *, client: str | None = None
) -> httpx.Response:
    headers = {"x-forwarded-for": client} if client else {}
    return await stack.http.post(
        f"{stack.auth_url}/login",
        json={"username": username, "password": password},
        headers=headers,
    )


def assert_throttled(response: httpx.Response, *, window_s: float) -> None:
    assert response.status_code == 429, f"{response.status_code} {response.text}"
    assert response.json()["error"] == "too_many_attempts"
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= window_s


def _params(stored: str) -> re.Match[str]:
    match = _ARGON2ID.fullmatch(stored)
    assert match is not None, f"not an Argon2id v19 PHC string: {stored[:40]}..."
    return match


# ---------------------------------------------------------------------- storage
@shared
async def test_passwords_are_stored_as_argon2id_at_or_above_owasp(shared_stack: Stack) -> None:
    """A new password is stored as Argon2id v19 at OWASP cost or above, with a 16-byte salt."""
    username = await shared_stack.register()
    params = _params(stored_hash(shared_stack.auth_dir, username))
    m, t, p = int(params["m"]), int(params["t"]), int(params["p"])
    assert any(m >= min_m and t >= min_t for min_m, min_t in OWASP_ARGON2ID), (m, t)
    assert p >= 1
    assert len(b64url_decode(params["salt"].replace("+", "-").replace("/", "_"))) >= 16
    assert PASSWORD not in stored_hash(shared_stack.auth_dir, username)


@shared
async def test_the_same_password_gets_a_unique_salt_and_hash(shared_stack: Stack) -> None:
    """Two accounts with the same password store different salts and different hashes."""
    first = _params(stored_hash(shared_stack.auth_dir, await shared_stack.register()))
    second = _params(stored_hash(shared_stack.auth_dir, await shared_stack.register()))
    assert first["salt"] != second["salt"]
    assert first["hash"] != second["hash"]


async def test_hashes_are_upgraded_transparently_when_the_policy_rises(
    stack_factory: StackFactory,
) -> None:
    """After auth restarts with ``--argon2-time-cost 3``, a login rewrites the hash at t=3."""
    stack = await stack_factory(start_backend=False)
    username = await stack.register()
    assert _params(stored_hash(stack.auth_dir, username))["t"] == "2"

    await stack.auth.stop()
    await stack.supervisor.start(
        auth_spec(
            port=stack.auth_port,
            data_dir=stack.auth_dir,
            database_url=stack.auth_db,
            extra_args=(*FAST_AUTH, "--argon2-time-cost", "3"),
        )
    )
    await stack.login(username)  # verified against the old t=2 hash
    upgraded = _params(stored_hash(stack.auth_dir, username))
    assert (upgraded["m"], upgraded["t"], upgraded["p"]) == ("19456", "3", "1")
    await stack.login(username)  # and the new hash verifies too
    assert (await login(stack, username, "not the password")).status_code == 401


@shared
async def test_password_longer_than_128_characters_is_refused_at_registration(
    shared_stack: Stack,
) -> None:
    """Registration refuses a 129-character password with 400 and accepts 128 characters."""
    url = f"{shared_stack.auth_url}/register"
    name = f"long-{secrets.token_hex(4)}"
    refused = await shared_stack.http.post(url, json={"username": name, "password": "p" * 129})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_request"
    accepted = await shared_stack.http.post(url, json={"username": name, "password": "p" * 128})
    assert accepted.status_code == 201, accepted.text
    # at login an over-long password is just wrong (401), never a 500 or a long hash
    assert (await login(shared_stack, name, "p" * 4000, client="198.51.100.99")).status_code == 401


# ---------------------------------------------------------------------- login failures
async def test_unknown_user_and_wrong_password_are_indistinguishable(
    stack_factory: StackFactory,
) -> None:
    """Unknown user and wrong password get the same status, body and headers, and similar time.

    Timing: medians of 9 interleaved attempts each must be within a factor of 2.
    """
    stack = await stack_factory(
        auth_args=[
            *("--login-failures-per-account-client", "1000"),
            *("--login-failures-per-client", "1000"),
        ],
        start_backend=False,
    )
    username = await stack.register()

    async def attempt(name: str) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = await login(stack, name, "wrong password 123")
        return response, time.perf_counter() - started

    await attempt(username)  # warm both paths before timing
    await attempt(f"nobody-{secrets.token_hex(4)}")
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(9):
        wrong_response, wrong_s = await attempt(username)
        unknown_response, unknown_s = await attempt(f"nobody-{secrets.token_hex(4)}")
        wrong.append(wrong_s)
        unknown.append(unknown_s)
        assert wrong_response.status_code == unknown_response.status_code == 401
        assert wrong_response.content == unknown_response.content
        assert {k: v for k, v in wrong_response.headers.items() if k != "date"} == {
            k: v for k, v in unknown_response.headers.items() if k != "date"
        }
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 <= ratio <= 2, f"unknown/wrong median time ratio {ratio:.2f}"


@shared
async def test_failures_lock_one_account_client_pair_only(shared_stack: Stack) -> None:
    """Five failures from one client lock that (account, client) with 429; other clients log in."""
    username = await shared_stack.register()
    attacker, victim = "198.51.100.1", "198.51.100.2"
    for attempt in range(PAIR_LIMIT):
        response = await login(shared_stack, username, f"guess {attempt}", client=attacker)
        assert response.status_code == 401, f"attempt {attempt}: {response.status_code}"
    assert_throttled(await login(shared_stack, username, "guess 5", client=attacker), window_s=900)
    assert_throttled(await login(shared_stack, username, PASSWORD, client=attacker), window_s=900)
    assert (await login(shared_stack, username, PASSWORD, client=victim)).status_code == 200


@shared
async def test_one_client_spraying_many_accounts_is_throttled(shared_stack: Stack) -> None:
    """A client failing once on each of many accounts hits the per-client limit (429)."""
    username = await shared_stack.register()
    sprayer, other = "198.51.100.3", "198.51.100.4"
    for n in range(CLIENT_LIMIT):
        account = f"spray-{n}-{secrets.token_hex(3)}"
        response = await login(shared_stack, account, "x" * 12, client=sprayer)
        assert response.status_code == 401, f"account {n}: {response.status_code}"
    assert_throttled(await login(shared_stack, username, PASSWORD, client=sprayer), window_s=60)
    assert (await login(shared_stack, username, PASSWORD, client=other)).status_code == 200


async def test_password_hashing_does_not_block_the_event_loop(
    stack_factory: StackFactory,
) -> None:
    """While 12 logins hash at once, auth's /health/live keeps answering in milliseconds.

    Auth runs a costlier policy here (m=64 MiB, t=3: ~150 ms a hash), so hashing on the
    event loop would hold every probe for most of a hash (median >= ~75 ms) and the
    slowest for several. Off the loop a probe costs a few ms; the bounds (median 50 ms,
    max 500 ms) leave room for connection bursts on a two-core machine.
    """
    stack = await stack_factory(
        auth_args=("--argon2-memory-kib", "65536", "--argon2-time-cost", "3"),
        start_backend=False,
    )
    username = await stack.register()
    logins = asyncio.gather(*(login(stack, username, PASSWORD) for _ in range(12)))
    latencies: list[float] = []
    while not logins.done():
        started = time.perf_counter()
        live = await stack.http.get(f"{stack.auth_url}/health/live")
        latencies.append(time.perf_counter() - started)
        assert live.status_code == 200
    assert [r.status_code for r in await logins] == [200] * 12
    assert len(latencies) >= 10, "the logins finished before auth could be probed"
    shown = [round(s * 1000) for s in latencies]
    assert statistics.median(latencies) < 0.05 * TIME_UNIT, shown
    assert max(latencies) < 0.5 * TIME_UNIT, shown
