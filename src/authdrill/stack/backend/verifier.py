"""Local access-token verification: never a network call on the request path.

:meth:`Verifier.cached` is the hot path: a cache hit costs two dictionary lookups
(token, revoked sid) and a staleness comparison. :meth:`Verifier.verify` adds, on a
miss, the strict pre-crypto parse, the key-bound signature check and claim validation
(:mod:`authdrill.stack.jose`, :mod:`authdrill.stack.claims`); only an unknown ``kid``
— or no key set at all, in the moments after start before the first fetch lands —
may wait, at most once per cooldown, for a key-set refresh.

Outcomes: valid claims, :class:`~authdrill.errors.InvalidTokenError` (401), or
:class:`KeysUnavailable` (503: no key set, or one older than the maximum staleness —
the backend cannot judge, so it must not say "unauthorized").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from authdrill.errors import InvalidTokenError
from authdrill.stack import jose
from authdrill.stack.backend.key_source import KeySource
from authdrill.stack.backend.revocation_set import RevocationSet
from authdrill.stack.backend.token_cache import TokenCache
from authdrill.stack.claims import AccessClaims, ClaimPolicy, validate_access_claims

__all__ = ["KeysUnavailable", "Verifier"]


class KeysUnavailable(Exception):  # noqa: N818 - an outcome, mapped to 503
    """No key set usable for verification (never fetched, or too stale)."""


class Verifier:
    """Verifies access tokens against the local key set, revocations and a cache."""

    def __init__(
        self,
        *,
        keys: KeySource,
        revoked: RevocationSet,
        cache: TokenCache,
        policy: ClaimPolicy,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._revoked = revoked
        self._cache = cache
        self._policy = policy
        self._wall = wall
        self.full_verifications = 0

    def _check_keys_usable(self, now: float) -> None:
        keyset = self._keys.keyset
        if keyset is None:
            raise KeysUnavailable("no key set yet: auth has not been reachable since start")
        if not keyset.usable(self._keys.policy, now):
            raise KeysUnavailable(
                f"key set is {keyset.age(now):.0f} s old, past the maximum staleness"
            )

    def cached(self, token: str) -> AccessClaims | None:
        """Claims of an already-verified token, or ``None`` on a miss.

        Raises:
            InvalidTokenError: the token's session has been revoked.
            KeysUnavailable: the key set is too stale to vouch for anything.
        """
        now = self._wall()
        claims = self._cache.get(token, now)
        if claims is None:
            return None
        self._check_keys_usable(now)
        if claims.sid in self._revoked:
            raise InvalidTokenError("revoked", "session has been revoked")
        return claims

    async def verify(self, token: str) -> AccessClaims:
        """Fully verify ``token`` (cache first).

        Raises:
            InvalidTokenError: the token is not acceptable; ``reason`` says why.
            KeysUnavailable: no key set fresh enough to judge.
        """
        hit = self.cached(token)
        if hit is not None:
            return hit
        jws = jose.parse_compact(token)  # every pre-crypto rejection happens here
        if self._keys.keyset is None:  # just started: join the first fetch (or one per cooldown)
            await self._keys.lookup_unknown(jws.kid)
        now = self._wall()
        self._check_keys_usable(now)
        key = self._keys.lookup(jws.kid) or await self._keys.lookup_unknown(jws.kid)
        if key is None:
            raise InvalidTokenError("unknown_key", "token was signed by a key we do not trust")
        self.full_verifications += 1
        jose.verify_signature(jws, key)
        claims = validate_access_claims(
            jose.loads_strict(jws.payload, "payload"), self._policy, now=self._wall()
        )
        if claims.sid in self._revoked:
            raise InvalidTokenError("revoked", "session has been revoked")
        self._cache.put(token, claims, self._wall())
        return claims
