"""A bounded cache of tokens that have already been verified (pure).

Signature verification costs ~100 µs; a dictionary lookup costs well under one. The
cache is keyed by the *whole* token string, so a token with an altered byte anywhere is
a miss and is verified in full. An entry never outlives its token's ``exp``; entries of
a revoked session are dropped on revocation (and callers also check revocation on every
hit); when the key set changes, the cache is cleared so a key that was removed stops
vouching for tokens at once.
"""

from __future__ import annotations

from authdrill.stack.claims import AccessClaims

__all__ = ["TokenCache"]


class TokenCache:
    """At most ``max_entries`` verified tokens; the oldest insertion is evicted first."""

    def __init__(self, max_entries: int) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be > 0")
        self._max = max_entries
        self._entries: dict[str, AccessClaims] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> AccessClaims | None:
        """The cached claims of ``token`` if present and not expired at Unix time ``now``."""
        claims = self._entries.get(token)
        if claims is None:
            return None
        if now >= claims.exp:
            del self._entries[token]
            return None
        return claims

    def put(self, token: str, claims: AccessClaims, now: float) -> None:
        """Remember ``token`` as verified (ignored if already expired)."""
        if now >= claims.exp:
            return
        if token not in self._entries and len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = claims

    def drop_sessions(self, sids: set[str]) -> int:
        """Forget every token of the sessions in ``sids``; returns how many."""
        doomed = [token for token, claims in self._entries.items() if claims.sid in sids]
        for token in doomed:
            del self._entries[token]
        return len(doomed)

    def clear(self) -> None:
        """Forget everything (the key set changed)."""
        self._entries.clear()
