"""Polling auth's revocation feed and persisting what it says.

Each poll asks for entries after the last cursor (through the breaker), adds them to the
in-memory :class:`~authdrill.stack.backend.revocation_set.RevocationSet`, and writes the
new entries and the cursor to the backend database in one transaction, so a restarted
backend still enforces every revocation it had seen. If auth's feed identity changes
(its database was reset), the cursor starts over.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from authdrill.stack.backend.auth_client import AuthClient, AuthUnavailable
from authdrill.stack.backend.revocation_set import RevocationSet
from authdrill.stack.backend.schema import feed_state, revoked_sessions
from authdrill.stack.db import Database

__all__ = ["RevocationFeed", "parse_feed_page"]

log = logging.getLogger("authdrill.backend.revocations")
_MAX_PAGES_PER_POLL = 50


def _entry(entry: Any) -> tuple[str, float]:
    if not isinstance(entry, dict):
        raise ValueError("revocation entry is not an object")  # noqa: TRY004 - bad data
    sid, expires_at = entry.get("sid"), entry.get("expires_at")
    if not isinstance(sid, str) or not sid:
        raise ValueError("revocation entry has no sid string")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        raise ValueError("revocation entry has no numeric expires_at")  # noqa: TRY004 - bad data
    try:
        value = float(expires_at)
    except OverflowError:
        raise ValueError("revocation entry expires_at is out of range") from None
    if not math.isfinite(value):
        raise ValueError("revocation entry expires_at is not finite")
    return sid, value


def parse_feed_page(document: Any) -> tuple[str, int, bool, list[tuple[str, float]]]:
    """``(feed_id, cursor, more, entries)`` from a feed page.

    Raises:
        ValueError: the page does not have the documented shape.
    """
    if not isinstance(document, dict):
        raise ValueError("revocation feed page is not an object")  # noqa: TRY004 - bad data
    feed_id, cursor, more = document.get("feed_id"), document.get("cursor"), document.get("more")
    revoked = document.get("revoked")
    if not isinstance(feed_id, str) or not feed_id:
        raise ValueError("revocation feed page has no feed_id string")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise ValueError("revocation feed page has no non-negative integer cursor")
    if not isinstance(more, bool) or not isinstance(revoked, list):
        raise ValueError("revocation feed page has no 'more' flag or 'revoked' list")  # noqa: TRY004 - bad data
    return feed_id, cursor, more, [_entry(e) for e in revoked]


class RevocationFeed:
    """Keeps a :class:`RevocationSet` in step with auth's feed."""

    def __init__(
        self,
        *,
        client: AuthClient,
        revoked: RevocationSet,
        db: Database,
        interval_s: float,
        on_revoked: Callable[[set[str]], None],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.revoked = revoked
        self._db = db
        self.interval_s = interval_s
        self._on_revoked = on_revoked
        self._wall = wall
        self.feed_id: str | None = None
        self.cursor = 0
        self.last_success: float | None = None
        self._failing = False

    async def load(self) -> None:
        """Load persisted revocations and the cursor from the database."""
        now = self._wall()
        async with self._db.read() as conn:
            rows = await conn.execute(
                sa.select(revoked_sessions.c.sid, revoked_sessions.c.expires_at).where(
                    revoked_sessions.c.expires_at > now
                )
            )
            self.revoked.add((r.sid, r.expires_at) for r in rows)
            state = (
                await conn.execute(sa.select(feed_state.c.feed_id, feed_state.c.cursor))
            ).first()
        if state is not None:
            self.feed_id, self.cursor = state.feed_id, int(state.cursor)

    def age(self, now: float) -> float | None:
        """Seconds since the last successful poll, ``None`` if none yet."""
        return None if self.last_success is None else max(0.0, now - self.last_success)

    async def poll_once(self) -> bool:
        """Fetch every new page; ``True`` if the feed was read up to date."""
        for _ in range(_MAX_PAGES_PER_POLL):
            try:
                page = parse_feed_page(await self._client.fetch_revocations(self.cursor))
            except (AuthUnavailable, ValueError) as exc:
                if not self._failing:
                    log.warning("revocation feed unavailable: %s", exc)
                self._failing = True
                return False
            feed_id, cursor, more, entries = page
            if feed_id != self.feed_id and self.feed_id is not None and self.cursor:
                log.warning("auth's revocation feed changed identity; reading it from the start")
                self.feed_id, self.cursor = feed_id, 0
                continue
            await self._apply(feed_id, cursor, entries)
            if not more:
                break
        if self._failing:
            log.info("revocation feed reachable again")
        self._failing = False
        self.last_success = self._wall()
        return True

    async def _apply(self, feed_id: str, cursor: int, entries: list[tuple[str, float]]) -> None:
        new = self.revoked.add(entries)
        async with self._db.write() as conn:
            if new:
                await conn.execute(
                    revoked_sessions.insert(),
                    [{"sid": sid, "expires_at": exp} for sid, exp in entries if sid in new],
                )
            await conn.execute(feed_state.delete())
            await conn.execute(feed_state.insert().values(id=1, feed_id=feed_id, cursor=cursor))
        self.feed_id, self.cursor = feed_id, cursor
        if new:
            log.info("%d sessions revoked", len(new))
            self._on_revoked(new)

    async def prune(self) -> None:
        """Forget revocations whose tokens have all expired."""
        now = self._wall()
        if self.revoked.prune(now):
            async with self._db.write() as conn:
                await conn.execute(
                    revoked_sessions.delete().where(revoked_sessions.c.expires_at <= now)
                )

    async def run(self) -> None:
        """Poll until cancelled."""
        polls = 0
        while True:
            await self.poll_once()
            polls += 1
            if polls % 600 == 0:
                await self.prune()
            await asyncio.sleep(self.interval_s)  # the poll period itself, not a settle
