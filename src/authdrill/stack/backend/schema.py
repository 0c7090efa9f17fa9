"""Tables of the backend database (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["SCHEMA_VERSION", "feed_state", "metadata", "notes", "revoked_sessions"]

SCHEMA_VERSION = 1
metadata = sa.MetaData()

notes = sa.Table(
    "notes",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("owner", sa.String(256), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_notes_owner_id", "owner", "id"),
    # ids are handed to clients: never reissue one (plain SQLite rowids reuse deleted ids)
    sqlite_autoincrement=True,
)

revoked_sessions = sa.Table(
    "revoked_sessions",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),
)

feed_state = sa.Table(
    "feed_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("feed_id", sa.String(64), nullable=False),
    sa.Column("cursor", sa.BigInteger, nullable=False),
)
