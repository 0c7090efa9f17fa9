"""Revoked sessions known to the backend (pure).

Auth's revocation feed lists revoked session ids (``sid``) with the time after which
every access token of that session has expired anyway (``expires_at``). The backend
keeps them in memory for a set lookup on every request and forgets them when they can
no longer matter.

Staleness bound: while auth is up, a revocation reaches the backend within one poll
interval (default 1 s) plus one request. While auth is down, revocations made before
the outage are still enforced (they are persisted), but nothing new can arrive: the
bound becomes the access-token lifetime (default 15 min).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["RevocationSet"]


class RevocationSet:
    """``sid -> expires_at`` (Unix seconds) with cheap membership checks."""

    def __init__(self) -> None:
        self._expires: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expires)

    def __contains__(self, sid: object) -> bool:
        return sid in self._expires

    def add(self, entries: Iterable[tuple[str, float]]) -> set[str]:
        """Add ``(sid, expires_at)`` entries; returns the sids that are new."""
        new: set[str] = set()
        for sid, expires_at in entries:
            if sid not in self._expires:
                new.add(sid)
            self._expires[sid] = max(expires_at, self._expires.get(sid, expires_at))
        return new

    def prune(self, now: float) -> int:
        """Forget entries whose tokens have all expired at ``now``; returns how many."""
        done = [sid for sid, expires_at in self._expires.items() if expires_at <= now]
        for sid in done:
            del self._expires[sid]
        return len(done)
