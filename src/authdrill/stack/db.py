"""One database code path for SQLite (default) and PostgreSQL.

:func:`open_database` turns a URL into a connected :class:`Database` with its schema in
place, or raises :class:`~authdrill.errors.DatabaseError` naming the database (password
redacted) and the problem. Accepted URLs::

    sqlite:///relative/or/absolute/path.db   (driver aiosqlite is added)
    postgresql://user:pass@host:port/dbname  (driver asyncpg is added)

SQLite runs in WAL mode with ``synchronous=NORMAL`` by default: a committed transaction
survives the process being killed (what drills do); only an OS crash or power loss may
roll back the last commits. ``synchronous=FULL`` trades write latency for that too.
Writes to SQLite are serialized in-process, so concurrent requests never meet
``database is locked``; PostgreSQL takes them concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from authdrill.errors import ConfigError, DatabaseError

__all__ = [
    "SCHEMA_VERSION_TABLE",
    "Database",
    "default_sqlite_url",
    "normalize_url",
    "open_database",
    "redact_url",
]

_CONNECT_TIMEOUT_S = 5.0
SCHEMA_VERSION_TABLE = "authdrill_schema"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to log and show)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def default_sqlite_url(data_dir: Path, name: str) -> str:
    """The default database of service ``name``: ``<data_dir>/<name>.db``."""
    return f"sqlite+aiosqlite:///{(data_dir / f'{name}.db').resolve()}"


def normalize_url(url: str) -> str:
    """Add the async driver to a ``sqlite://`` or ``postgresql://`` URL.

    Raises:
        ConfigError: not a URL, or a database other than SQLite and PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("--database-url", f"{url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("--database-url", "SQLite needs a file path (not :memory:)")
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ConfigError("--database-url", f"unsupported database {backend!r} (sqlite, postgresql)")


@dataclass(slots=True)
class Database:
    """A connected database with its schema in place.

    Attributes:
        engine: the SQLAlchemy async engine.
        url: the URL with the password redacted (for logs and errors).
        is_sqlite: whether writes must be serialized in-process.
    """

    engine: AsyncEngine
    url: str
    is_sqlite: bool
    _write_lock: asyncio.Lock

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for writing; committed on exit, rolled back on error."""
        if self.is_sqlite:
            async with self._write_lock, self.engine.begin() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (never blocked by writers in WAL mode)."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self, *, timeout_s: float = 2.0) -> str | None:
        """``None`` when the database answers ``SELECT 1`` in time, else the problem."""
        try:
            async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except TimeoutError:
            return f"no answer within {timeout_s:g} s"
        except (SQLAlchemyError, OSError) as exc:
            return _describe(exc)
        return None

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def _describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a driver error."""
    root: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        root = exc.orig
    while root.__cause__ is not None and not str(root):
        root = root.__cause__
    if isinstance(root, OSError) and root.errno == errno.ECONNREFUSED:
        return "connection refused"
    text = str(root).strip().splitlines()
    return text[0] if text else type(root).__name__


async def _ensure_schema(engine: AsyncEngine, metadata: sa.MetaData, version: int) -> None:
    table = sa.Table(
        SCHEMA_VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version", sa.Integer, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(table.create, checkfirst=True)
        found = (await conn.execute(sa.select(table.c.version))).scalar_one_or_none()
        if found is not None and found > version:
            raise DatabaseError(
                str(engine.url.render_as_string(hide_password=True)),
                f"schema version {found} was written by a newer authdrill (this one knows "
                f"{version}); refusing to touch it",
            )
        await conn.run_sync(metadata.create_all, checkfirst=True)
        if found is None:
            await conn.execute(table.insert().values(version=version))
        elif found < version:
            await conn.execute(table.update().values(version=version))


async def open_database(
    url: str,
    metadata: sa.MetaData,
    *,
    schema_version: int,
    sqlite_synchronous: str = "NORMAL",
    pool_size: int = 10,
) -> Database:
    """Connect to ``url`` and create or check the schema of ``metadata``.

    For SQLite the file's directory is created if missing.

    Raises:
        ConfigError: the URL is not one we support.
        DatabaseError: the database cannot be reached, opened or migrated; the message
            names it (password redacted) and says why.
    """
    full_url = normalize_url(url)
    shown = redact_url(full_url)
    parsed = make_url(full_url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        db_path = Path(parsed.database or "")
        blocker = next((p for p in (db_path.parent, *db_path.parent.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise DatabaseError(shown, f"{blocker} is a file, not a directory")
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(shown, f"cannot create {db_path.parent}: {exc.strerror}") from exc
        engine = create_async_engine(full_url, pool_size=pool_size, pool_timeout=30)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(sqlite_synchronous))
    else:
        engine = create_async_engine(
            full_url,
            pool_size=pool_size,
            pool_pre_ping=True,
            connect_args={"timeout": _CONNECT_TIMEOUT_S},
        )
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT_S * 2):
            await _ensure_schema(engine, metadata, schema_version)
    except DatabaseError:
        await engine.dispose()
        raise
    except TimeoutError as exc:
        await engine.dispose()
        raise DatabaseError(shown, "no answer while connecting") from exc
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise DatabaseError(shown, f"cannot open: {_describe(exc)}") from exc
    return Database(engine=engine, url=shown, is_sqlite=is_sqlite, _write_lock=asyncio.Lock())
