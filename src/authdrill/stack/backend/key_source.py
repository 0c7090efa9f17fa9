"""The backend's key set: fetched from auth, kept through outages, persisted to disk.

* Refreshed in the background every ``refresh_interval_s`` (conditional GET, ETag).
* A failed refresh keeps the current set (stale-if-error) and retries sooner.
* Every successful fetch is written atomically to ``jwks-cache.json`` in the data
  directory (last-known-good), and loaded on start: a backend restarted while auth is
  down still verifies.
* Refreshes are single-flight: concurrent callers share the one in progress. An
  unknown ``kid`` may start one at most every ``unknown_kid_cooldown_s``.

The policy lives in :mod:`authdrill.stack.backend.keyset`; this module does the I/O.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from authdrill.stack.backend.auth_client import AuthClient, AuthUnavailable
from authdrill.stack.backend.keyset import (
    KeySet,
    KeySetPolicy,
    may_refresh_for_unknown_kid,
    next_refresh_in,
)
from authdrill.stack.jose import VerificationKey
from authdrill.stack.jwk import parse_jwks

__all__ = ["KeySource"]

log = logging.getLogger("authdrill.backend.keys")
CACHE_FILE = "jwks-cache.json"


class KeySource:
    """Holds the current :class:`KeySet` and keeps it fresh."""

    def __init__(
        self,
        *,
        client: AuthClient,
        policy: KeySetPolicy,
        data_dir: Path,
        on_change: Callable[[], None],
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.policy = policy
        self._path = data_dir / CACHE_FILE
        self._on_change = on_change
        self._wall = wall
        self._monotonic = monotonic
        self.keyset: KeySet | None = None
        self._etag: str | None = None
        self._document: object | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._last_unknown_refresh: float | None = None
        self._last_failed = False
        self.refreshes = 0

    # ------------------------------------------------------------------ disk
    def load_persisted(self) -> None:
        """Load the last-known-good set from disk, if there is a usable one."""
        try:
            document = json.loads(self._path.read_text())
            parsed = parse_jwks(document["jwks"])
            fetched_at = float(document["fetched_at"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable key-set cache %s: %s", self._path, exc)
            return
        if parsed.keys:
            self.keyset = KeySet(keys=parsed.keys, fetched_at=fetched_at, source="disk")
            self._document = document["jwks"]
            log.info(
                "loaded %d keys from %s (%.0f s old)",
                len(parsed.keys),
                self._path,
                self.keyset.age(self._wall()),
            )

    def _persist(self, document: object, fetched_at: float) -> None:
        payload = json.dumps({"fetched_at": fetched_at, "jwks": document}).encode()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".jwks-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self._path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            log.exception("could not persist the key set to %s", self._path)

    # ------------------------------------------------------------------ lookups
    def lookup(self, kid: str) -> VerificationKey | None:
        """The key for ``kid`` in the current set, without any I/O."""
        return None if self.keyset is None else self.keyset.keys.get(kid)

    async def lookup_unknown(self, kid: str) -> VerificationKey | None:
        """Refresh for an unknown ``kid`` if the cooldown allows, then look again."""
        if self._inflight is None:
            now = self._monotonic()
            if not may_refresh_for_unknown_kid(self._last_unknown_refresh, self.policy, now=now):
                return None
            self._last_unknown_refresh = now
        await self.refresh()
        return self.lookup(kid)

    # ------------------------------------------------------------------ refresh
    async def refresh(self) -> bool:
        """Fetch the key set (joining a refresh in progress); ``True`` on success."""
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._refresh_once())
            self._inflight.add_done_callback(self._clear_inflight)
        return await asyncio.shield(self._inflight)

    def _clear_inflight(self, _task: asyncio.Task[bool]) -> None:
        self._inflight = None

    async def _refresh_once(self) -> bool:
        self.refreshes += 1
        try:
            fetch = await self._client.fetch_jwks(self._etag if self.keyset else None)
        except AuthUnavailable as exc:
            self._note_failure(f"auth unavailable ({exc.reason})")
            return False
        except ValueError as exc:
            self._note_failure(str(exc))
            return False
        now = self._wall()
        if fetch.document is None and self.keyset is not None:  # 304: confirmed unchanged
            self.keyset = KeySet(keys=self.keyset.keys, fetched_at=now, source="auth")
            if self._document is not None:
                self._persist(self._document, now)
            self._last_failed = False
            return True
        try:
            parsed = parse_jwks(fetch.document)
        except ValueError as exc:
            self._note_failure(f"auth served a bad key set: {exc}")
            return False
        for reason in parsed.skipped:
            log.warning("skipping a key auth published: %s", reason)
        if not parsed.keys:
            self._note_failure("auth served a key set with no usable key")
            return False
        changed = self.keyset is None or set(parsed.keys) != set(self.keyset.keys)
        self.keyset = KeySet(keys=parsed.keys, fetched_at=now, source="auth")
        self._etag = fetch.etag
        self._document = fetch.document
        self._persist(fetch.document, now)
        if self._last_failed:
            log.info("key set refreshed again after failures")
        self._last_failed = False
        if changed:
            log.info("key set now has kids %s", sorted(parsed.keys))
            self._on_change()
        return True

    def _note_failure(self, why: str) -> None:
        if not self._last_failed:
            log.warning("key set refresh failed, keeping the current set: %s", why)
        self._last_failed = True

    async def run(self) -> None:
        """Refresh now, then on schedule, until cancelled."""
        while True:
            await self.refresh()
            delay = next_refresh_in(
                self.keyset, self.policy, now=self._wall(), last_attempt_failed=self._last_failed
            )
            await asyncio.sleep(delay)  # the refresh schedule itself, not a settle
