"""Broken: a backend that acknowledges writes first and asks auth later (deferred auth).

``POST /api/notes`` answers 201 with the note's id at once; a background check then
asks auth to confirm the writer and deletes the note when auth cannot. Everything
works while auth is up; during an outage every acknowledged write is silently thrown
away. The auth-outage drill fails at *recover*: acknowledged writes are missing.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from authdrill.stack.backend.app import BackendService, open_backend
from authdrill.stack.backend.notes import MAX_NOTE_LENGTH, add_note
from authdrill.stack.backend.schema import notes
from authdrill.stack.backend.settings import BackendSettings
from authdrill.stack.http import json_response, read_json_object, string_field
from authdrill.stack.server import serve_main

__all__ = ["DeferredWritesBackend"]


class DeferredWritesBackend(BackendService):
    """Writes acknowledged, confirmed with auth later, dropped if it can't (the anti-pattern)."""

    def __init__(self, **parts: Any) -> None:
        super().__init__(**parts)
        self._pending: set[asyncio.Task[None]] = set()

    async def create_note(self, request: Request) -> Response:
        claims = await self._claims(request)
        body = await read_json_object(request)
        note = await add_note(
            self.db, claims.sub, string_field(body, "text", max_length=MAX_NOTE_LENGTH)
        )
        task = asyncio.create_task(self._confirm_later(note.id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return json_response(note.as_json(), 201)

    async def _confirm_later(self, note_id: int) -> None:
        try:
            async with httpx.AsyncClient(base_url=self.settings.auth_url, trust_env=False) as auth:
                confirmed = (await auth.get("/health/ready", timeout=1)).status_code == 200  # noqa: PLR2004
        except httpx.HTTPError:
            confirmed = False
        if not confirmed:  # the mistake: an acknowledged write is thrown away
            async with self.db.write() as conn:
                await conn.execute(sa.delete(notes).where(notes.c.id == note_id))


async def _open(settings: BackendSettings) -> BackendService:
    return await open_backend(settings, service_class=DeferredWritesBackend)


if __name__ == "__main__":
    sys.exit(serve_main("backend", _open))
