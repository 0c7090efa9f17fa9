"""Notes: the backend's own data, owned by the token's subject."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from authdrill.stack.backend.schema import notes
from authdrill.stack.db import Database

__all__ = ["MAX_NOTE_LENGTH", "Note", "add_note", "list_notes"]

MAX_NOTE_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Note:
    """One stored note."""

    id: int
    text: str
    created_at: float

    def as_json(self) -> dict[str, Any]:
        """The JSON shape clients see."""
        return {"id": self.id, "text": self.text, "created_at": self.created_at}


async def add_note(db: Database, owner: str, text: str) -> Note:
    """Store a note for ``owner``; it is committed when this returns."""
    created_at = time.time()
    async with db.write() as conn:
        result = await conn.execute(
            notes.insert()
            .values(owner=owner, text=text, created_at=created_at)
            .returning(notes.c.id)
        )
        note_id = int(result.scalar_one())
    return Note(id=note_id, text=text, created_at=created_at)


async def list_notes(db: Database, owner: str, *, after: int, limit: int) -> list[Note]:
    """``owner``'s notes with an id above ``after``, oldest first, at most ``limit``."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(notes.c.id, notes.c.text, notes.c.created_at)
            .where(notes.c.owner == owner, notes.c.id > after)
            .order_by(notes.c.id)
            .limit(limit)
        )
        return [Note(id=r.id, text=r.text, created_at=r.created_at) for r in rows]
