"""The verifier's stale-if-error path, on a fake clock, with auth behind an httpx transport.

Auth is an in-process JWKS endpoint plugged into the real :class:`AuthClient` through
httpx's transport seam; "auth down" makes that transport refuse the connection. The
key set, refresh, token cache and verifier are the real ones.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authdrill.errors import InvalidTokenError
from authdrill.stack.backend.auth_client import AuthClient
from authdrill.stack.backend.breaker import BreakerPolicy
from authdrill.stack.backend.guard import Guard
from authdrill.stack.backend.key_source import KeySource
from authdrill.stack.backend.keyset import KeySetPolicy
from authdrill.stack.backend.revocation_set import RevocationSet
from authdrill.stack.backend.token_cache import TokenCache
from authdrill.stack.backend.verifier import KeysUnavailable, Verifier
from authdrill.stack.claims import ClaimPolicy
from authdrill.stack.jose import sign
from authdrill.stack.jwk import generate_private_key, public_jwk

START = 1_700_000_000.0
KEYS = KeySetPolicy(refresh_interval_s=60.0, max_staleness_s=300.0)
CLAIMS = ClaimPolicy(issuer="iss", audience="aud", max_lifetime_s=3600.0, leeway_s=0.0)
KID = "key-1"
PRIVATE = generate_private_key("ES256")


class Clock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Auth:
    """Auth's JWKS endpoint; ``up = False`` refuses connections like a killed process."""

    def __init__(self) -> None:
        self.up = True
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        assert request.url.path == "/.well-known/jwks.json"
        jwk = public_jwk(PRIVATE.public_key(), kid=KID, alg="ES256")
        return httpx.Response(200, json={"keys": [jwk]})


class Parts:
    """A verifier and what it is built from."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock(START)
        self.auth = Auth()
        self.client = AuthClient(
            "http://auth.invalid",
            Guard("auth", BreakerPolicy()),
            connect_timeout_s=1.0,
            timeout_s=1.0,
            transport=httpx.MockTransport(self.auth.handle),
        )
        self.cache = TokenCache(100)
        self.keys = KeySource(
            client=self.client,
            policy=KEYS,
            data_dir=tmp_path,
            on_change=self.cache.clear,
            wall=self.clock,
        )
        self.verifier = Verifier(
            keys=self.keys,
            revoked=RevocationSet(),
            cache=self.cache,
            policy=CLAIMS,
            wall=self.clock,
        )

    def token(self, *, lifetime_s: float = 1800.0) -> str:
        """An access token signed by auth's key, issued now, for a session of its own."""
        claims: dict[str, Any] = {
            "iss": "iss",
            "aud": "aud",
            "sub": "user-1",
            "sid": secrets.token_hex(8),
            "jti": secrets.token_hex(8),
            "iat": self.clock.now,
            "exp": self.clock.now + lifetime_s,
            "token_use": "access",
        }
        return sign(claims, PRIVATE, alg="ES256", kid=KID)

    async def auth_dies_and_time_passes(self, seconds: float) -> None:
        """Auth goes away; ``seconds`` later the background refresh fails (and keeps the set)."""
        self.auth.up = False
        self.clock.now += seconds
        assert await self.keys.refresh() is False


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    """A verifier whose key set was fetched from auth at ``START``."""
    built = Parts(tmp_path)
    assert await built.keys.refresh() is True
    yield built
    await built.client.aclose()


@pytest.mark.parametrize("age_s", [KEYS.refresh_interval_s, KEYS.max_staleness_s])
async def test_a_stale_key_set_still_verifies_up_to_the_maximum_staleness(
    parts: Parts, age_s: float
) -> None:
    """With auth down, a set up to max_staleness_s old (inclusive) verifies new and cached ones."""
    cached = parts.token()
    await parts.verifier.verify(cached)
    await parts.auth_dies_and_time_passes(age_s)
    fresh = parts.token()

    assert parts.keys.keyset is not None
    assert parts.keys.keyset.fetched_at == START, "a failed refresh must keep the last set"
    assert parts.verifier.cached(cached) is not None
    assert (await parts.verifier.verify(fresh)).sub == "user-1"


async def test_past_the_maximum_staleness_a_good_token_is_keys_unavailable(
    parts: Parts,
) -> None:
    """Just past max_staleness_s a valid token, cached or not, raises KeysUnavailable (503)."""
    cached = parts.token()
    await parts.verifier.verify(cached)
    await parts.auth_dies_and_time_passes(KEYS.max_staleness_s + 0.001)
    fresh = parts.token()

    with pytest.raises(KeysUnavailable, match="past the maximum staleness"):
        parts.verifier.cached(cached)
    for token in (cached, fresh):
        with pytest.raises(KeysUnavailable, match="past the maximum staleness"):
            await parts.verifier.verify(token)


async def test_a_too_stale_key_set_does_not_make_a_bad_token_look_unauthorized(
    parts: Parts,
) -> None:
    """Past the bound even a garbled signature is 503: the backend cannot judge anything."""
    await parts.auth_dies_and_time_passes(KEYS.max_staleness_s + 1)
    head, body, _signature = parts.token().split(".")
    with pytest.raises(KeysUnavailable):
        await parts.verifier.verify(f"{head}.{body}.{'A' * 86}")


async def test_a_successful_refresh_makes_a_too_stale_set_usable_again(parts: Parts) -> None:
    """When auth answers again, the next refresh resets the age and tokens verify."""
    token = parts.token()
    await parts.auth_dies_and_time_passes(KEYS.max_staleness_s + 1)
    with pytest.raises(KeysUnavailable):
        await parts.verifier.verify(token)

    parts.auth.up = True
    assert await parts.keys.refresh() is True
    assert (await parts.verifier.verify(token)).sub == "user-1"


async def test_a_malformed_token_is_still_401_whatever_the_key_set(parts: Parts) -> None:
    """Pre-crypto rejection comes first: garbage is ``malformed`` even past the bound."""
    await parts.auth_dies_and_time_passes(KEYS.max_staleness_s + 1)
    with pytest.raises(InvalidTokenError) as rejected:
        await parts.verifier.verify("not-a-token")
    assert rejected.value.reason == "malformed"


@pytest.fixture
async def unfetched(tmp_path: Path) -> AsyncIterator[Parts]:
    """A verifier just after start: no key set on disk, none fetched yet."""
    built = Parts(tmp_path)
    yield built
    await built.client.aclose()


async def test_before_the_first_fetch_a_request_waits_for_it_instead_of_503(
    unfetched: Parts,
) -> None:
    """A token arriving while the start-up fetch is in flight joins it and verifies."""
    startup = asyncio.create_task(unfetched.keys.refresh())  # what KeySource.run starts with
    claims = await unfetched.verifier.verify(unfetched.token())
    assert claims.sub == "user-1"
    assert await startup is True
    assert unfetched.auth.requests == 1, "the request shares the start-up fetch"


async def test_with_no_key_set_and_auth_down_a_request_is_503_and_asks_once_per_cooldown(
    unfetched: Parts,
) -> None:
    """Auth never reached: KeysUnavailable, and one fetch per cooldown however many requests."""
    unfetched.auth.up = False
    for _ in range(3):
        with pytest.raises(KeysUnavailable, match="no key set yet"):
            await unfetched.verifier.verify(unfetched.token())
    assert unfetched.auth.requests == 1
