"""Tables of the auth database (the same on SQLite and PostgreSQL).

Times are Unix seconds stored as floating point. Refresh tokens are stored only as
SHA-256 hashes; a leaked database does not leak usable refresh tokens.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "SCHEMA_VERSION",
    "feed_meta",
    "metadata",
    "refresh_tokens",
    "revocations",
    "sessions",
    "users",
]

SCHEMA_VERSION = 1
metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("sid", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("revoke_reason", sa.String(32), nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("sid", sa.String(32), sa.ForeignKey("sessions.sid"), nullable=False, index=True),
    sa.Column("issued_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
)

revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("sid", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.Column("reason", sa.String(32), nullable=False),
    # backends hold a cursor into this sequence: a reissued number would be skipped by
    # every one of them (plain SQLite rowids restart after the table empties)
    sqlite_autoincrement=True,
)

feed_meta = sa.Table(
    "feed_meta",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
)
