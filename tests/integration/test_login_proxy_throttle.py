"""Logins through the backend are throttled per real client, not per backend.

The built-in target as the drill starts it: the backend forwards each user's address in
``X-Forwarded-For`` and auth believes it from the backend alone. Users are told apart by
binding their sockets to different loopback addresses (Linux routes all of 127/8 to lo).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from authdrill import Supervisor, builtin_target
from authdrill.process import free_port
from authdrill.target import allocate_ports, render_services, service_urls
from tests.integration.support import PASSWORD
from tests.support import TIME_UNIT

PAIR_LIMIT = 5  # auth's default failed logins per (account, client address)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs 127.0.0.2 and 127.0.0.3 on loopback"
)


@asynccontextmanager
async def user_at(address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose connections come from ``address``."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(
        transport=transport, trust_env=False, timeout=10 * TIME_UNIT
    ) as client:
        yield client


async def test_guessing_through_the_backend_locks_out_the_guesser_only(tmp_path: Path) -> None:
    """Five wrong passwords from one address lock that address out (429 + Retry-After);
    the account's owner, from another address, still logs in through the same backend."""
    target = builtin_target()
    ports = allocate_ports(target, free_port)
    specs = render_services(
        target, run_dir=tmp_path, ports=ports, python=sys.executable, environ=os.environ
    )
    urls = service_urls(target, ports)
    username = f"owner-{secrets.token_hex(4)}"
    async with (
        Supervisor(tmp_path / "run") as supervisor,
        user_at("127.0.0.2") as attacker,
        user_at("127.0.0.3") as owner,
    ):
        for spec in specs:
            await supervisor.start(spec)
        registered = await owner.post(
            f"{urls['auth']}/register", json={"username": username, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        login = f"{urls['backend']}/api/login"

        for attempt in range(PAIR_LIMIT):
            guess = await attacker.post(
                login, json={"username": username, "password": f"x{attempt}" * 4}
            )
            assert guess.status_code == 401, f"guess {attempt}: {guess.status_code} {guess.text}"
        locked = await attacker.post(login, json={"username": username, "password": PASSWORD})
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["Retry-After"]) > 0

        allowed = await owner.post(login, json={"username": username, "password": PASSWORD})
        assert allowed.status_code == 200, (
            f"the owner, at another address, was refused: {allowed.status_code} {allowed.text}"
        )
        assert allowed.json()["access_token"]
