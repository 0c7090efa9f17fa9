"""The revocation feed's sequence never goes backwards, even after every row was pruned.

Backends poll ``/revocations?after=CURSOR``; a number handed out twice would be below every
backend's cursor and that logout would never reach them. Real databases, in process.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from authdrill.stack.auth.app import AuthService, open_auth
from authdrill.stack.auth.schema import revocations
from authdrill.stack.auth.settings import AuthSettings
from authdrill.stack.db import default_sqlite_url, normalize_url
from authdrill.testing import PostgresCluster

PASSWORD = "correct horse battery staple"
AuthFactory = Callable[[str, "Clock"], Awaitable[AuthService]]


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _database_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if db_kind == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        return cluster.create_database(f"auth_{secrets.token_hex(4)}")
    return default_sqlite_url(tmp_path / "auth", "auth")


async def _create_pre_autoincrement_table(url: str) -> None:
    """The revocations table as a database created before AUTOINCREMENT was set has it."""
    legacy = sa.MetaData()
    sa.Table(
        "revocations",
        legacy,
        *(sa.Column(c.name, c.type, primary_key=c.primary_key) for c in revocations.columns),
    )
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(legacy.create_all)
            ddl = (
                await conn.execute(
                    sa.text("SELECT sql FROM sqlite_master WHERE name='revocations'")
                )
            ).scalar_one()
        assert "AUTOINCREMENT" not in ddl.upper()
    finally:
        await engine.dispose()


@pytest.fixture
async def auth_factory(tmp_path: Path) -> AsyncIterator[AuthFactory]:
    """Open auth services in process; their databases are closed afterwards."""
    opened: list[AuthService] = []

    async def make(url: str, clock: Clock) -> AuthService:
        settings = AuthSettings(data_dir=tmp_path / "auth", database_url=url)
        service = await open_auth(settings, clock=clock)
        opened.append(service)
        return service

    yield make
    for service in opened:
        await service.authority.db.close()


async def _log_in_and_out(service: AuthService, username: str) -> str:
    """A session that ends in a logout; its sid."""
    tokens = await service.authority.login(username, PASSWORD, client="127.0.0.1")
    await service.authority.logout_refresh(tokens.refresh_token)
    return tokens.sid


async def _prune_everything_then_revoke_again(service: AuthService, clock: Clock) -> None:
    authority = service.authority
    await authority.register("alice", PASSWORD)
    first_sid = await _log_in_and_out(service, "alice")
    page = await authority.revocations_after(0, limit=100)
    assert [sid for sid, _ in page.entries] == [first_sid]
    cursor = page.cursor  # what a backend that has seen the first logout holds

    clock.now += authority.settings.access_ttl_s + authority.settings.clock_leeway_s + 1
    await authority.prune()
    assert (await authority.revocations_after(0, limit=100)).entries == ()

    second_sid = await _log_in_and_out(service, "alice")
    page = await authority.revocations_after(cursor, limit=100)
    assert [sid for sid, _ in page.entries] == [second_sid], (
        f"a logout after the table was pruned is invisible to a backend at cursor {cursor}"
    )
    assert page.cursor > cursor


@pytest.mark.parametrize(
    "db_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_a_logout_after_pruning_reaches_backends_holding_a_cursor(
    db_kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    auth_factory: AuthFactory,
) -> None:
    """Prune every expired row, revoke again: the new entry is after the old cursor."""
    clock = Clock()
    service = await auth_factory(_database_url(db_kind, tmp_path, request), clock)
    await _prune_everything_then_revoke_again(service, clock)


async def test_pruning_keeps_numbers_unique_in_a_table_made_without_autoincrement(
    tmp_path: Path, auth_factory: AuthFactory
) -> None:
    """A SQLite database from before AUTOINCREMENT: pruning keeps the newest row, so the
    next number is still above every cursor."""
    url = default_sqlite_url(tmp_path / "auth", "auth")
    (tmp_path / "auth").mkdir()
    await _create_pre_autoincrement_table(url)
    clock = Clock()
    service = await auth_factory(url, clock)
    await _prune_everything_then_revoke_again(service, clock)
