"""Integration fixtures: the reference stack as real processes on free ports.

``stack`` starts auth and backend (SQLite, or a private PostgreSQL cluster for the
``postgres`` parameter) with fast breaker and polling settings; ``stack_factory`` lets a
test choose extra flags.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from authdrill.process import Supervisor
from authdrill.stack.db import default_sqlite_url
from authdrill.testing import PostgresCluster
from tests.integration.support import Stack, StackFactory
from tests.support import TIME_UNIT


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for the whole session (skipped without binaries)."""
    cluster = PostgresCluster()
    if not cluster.available:
        if os.environ.get("AUTHDRILL_REQUIRE_POSTGRES") == "1":
            pytest.fail("AUTHDRILL_REQUIRE_POSTGRES=1 but PostgreSQL binaries were not found")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    """Which database the stack runs on."""
    return str(request.param)


@pytest.fixture
async def stack_factory(
    tmp_path: Path, db_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[StackFactory]:
    """Build and start stacks; everything is stopped (and checked gone) afterwards."""
    async with (
        Supervisor(tmp_path / "run") as supervisor,
        httpx.AsyncClient(trust_env=False, timeout=10 * TIME_UNIT) as http,
    ):

        async def make(
            *,
            auth_args: Sequence[str] = (),
            backend_args: Sequence[str] = (),
            start_backend: bool = True,
        ) -> Stack:
            root = tmp_path / f"stack-{secrets.token_hex(2)}"
            if db_kind == "postgres":
                cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
                suffix = secrets.token_hex(4)
                auth_db = cluster.create_database(f"auth_{suffix}")
                backend_db = cluster.create_database(f"backend_{suffix}")
            else:
                auth_db = default_sqlite_url(root / "auth", "auth")
                backend_db = default_sqlite_url(root / "backend", "backend")
            stack = Stack(supervisor, http, root, auth_db, backend_db, auth_args, backend_args)
            await stack.start_auth()
            if start_backend:
                await stack.start_backend()
            return stack

        yield make
        pids = [s.pid for s in supervisor.services if s.pid is not None]
    for pid in pids:
        assert not _alive(pid), f"process {pid} outlived the supervisor"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def stack(stack_factory: StackFactory) -> Stack:
    """A running reference stack with default settings (plus the fast knobs)."""
    return await stack_factory()
