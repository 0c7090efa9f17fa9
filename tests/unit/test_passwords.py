"""Password and username policy, OWASP cost floors, and Argon2id hashing off the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, Type

from authdrill.stack.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Hasher,
    HasherBusy,
    HashPolicy,
    password_problems,
    username_problems,
)

OWASP_MINIMUM = HashPolicy(memory_kib=19456, time_cost=2, parallelism=1)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> Iterator[Hasher]:
    """One hasher for the module (each construction costs a dummy hash)."""
    instance = Hasher(OWASP_MINIMUM, workers=2)
    yield instance
    instance.close()


# ------------------------------------------------------------------ policy


@pytest.mark.parametrize(
    ("username", "ok"),
    [
        ("abc", True),
        ("alice", True),
        ("alice@example.com", True),
        ("a.b_c+d-e", True),
        ("0day", True),
        ("a" * 64, True),
        ("ab", False),
        ("a" * 65, False),
        ("", False),
        (".alice", False),
        ("_alice", False),
        ("Alice", False),
        ("al ice", False),
        ("alice\n", False),
        ("al/ice", False),
        ("élise", False),
    ],
)
def test_username_problems(username: str, ok: bool) -> None:
    """Usernames are 3-64 of a-z 0-9 . _ @ + -, starting alphanumeric."""
    assert (username_problems(username) == []) is ok


@pytest.mark.parametrize(
    ("password", "username", "expected"),
    [
        ("x" * MIN_PASSWORD_LENGTH, "alice", []),
        ("x" * MAX_PASSWORD_LENGTH, "alice", []),
        ("x" * (MIN_PASSWORD_LENGTH - 1), "alice", ["at least 8"]),
        ("", "alice", ["at least 8"]),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "alice", ["at most 128"]),
        ("alice12345", "alice12345", ["not be the username"]),
        ("Alice12345", "alice12345", ["not be the username"]),
        ("  alice12345 ", "alice12345", ["not be the username"]),
        ("alice123456", "alice12345", []),
        ("bob", "bob", ["at least 8", "not be the username"]),
        ("pässwörd-ünïcode", "alice", []),
    ],
)
def test_password_problems(password: str, username: str, expected: list[str]) -> None:
    """Length bounds (8..128) and not-the-username are each reported."""
    problems = password_problems(password, username=username)
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


OWASP_ROWS = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]


@pytest.mark.parametrize(("memory", "time_cost"), OWASP_ROWS)
def test_each_owasp_configuration_meets_the_floor(memory: int, time_cost: int) -> None:
    """Each OWASP Argon2id row, and anything stronger, passes."""
    assert HashPolicy(memory_kib=memory, time_cost=time_cost).meets_owasp()
    assert HashPolicy(memory_kib=memory * 2, time_cost=time_cost + 1).meets_owasp()


@pytest.mark.parametrize(("memory", "time_cost"), OWASP_ROWS)
def test_just_below_each_owasp_configuration_fails(memory: int, time_cost: int) -> None:
    """One KiB less memory than a row, at that row's passes, fails."""
    assert not HashPolicy(memory_kib=memory - 1, time_cost=time_cost).meets_owasp()


@pytest.mark.parametrize(
    ("memory", "time_cost"), [(47104, 0), (19456, 1), (12288, 2), (9216, 3), (7168, 4), (7167, 99)]
)
def test_one_pass_fewer_than_a_row_fails(memory: int, time_cost: int) -> None:
    """A row's memory with one pass fewer, or too little memory at any passes, fails."""
    assert not HashPolicy(memory_kib=memory, time_cost=time_cost).meets_owasp()


# ------------------------------------------------------------------ hashing


async def test_hash_is_argon2id_with_policy_costs_and_unique_salt(hasher: Hasher) -> None:
    """Hashes are Argon2id with m/t/p of the policy, and salted differently each time."""
    first = await hasher.hash(PASSWORD)
    second = await hasher.hash(PASSWORD)
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]  # the salt segment


async def test_verify_matching_and_wrong_password(hasher: Hasher) -> None:
    """The right password verifies without rehash; a wrong one does not verify."""
    stored = await hasher.hash(PASSWORD)
    assert await hasher.verify(stored, PASSWORD) == (True, False)
    assert await hasher.verify(stored, PASSWORD + "!") == (False, False)


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA"])
async def test_verify_against_a_corrupt_hash_is_a_mismatch(hasher: Hasher, stored: str) -> None:
    """A stored value that is not a usable hash never verifies and never raises."""
    assert await hasher.verify(stored, PASSWORD) == (False, False)


async def test_weaker_stored_hash_needs_rehash(hasher: Hasher) -> None:
    """A hash made with weaker costs verifies and asks to be rehashed."""
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    stored = weak.hash(PASSWORD)
    assert await hasher.verify(stored, PASSWORD) == (True, True)
    assert await hasher.verify(stored, "wrong password") == (False, False)


async def test_burn_runs_a_verification(hasher: Hasher) -> None:
    """Burning (for unknown users) completes and leaves nothing pending."""
    assert await hasher.burn(PASSWORD) is None
    assert hasher.pending == 0


async def test_hasher_refuses_when_pending_reaches_the_limit() -> None:
    """With max_pending=0 every call is refused at once with HasherBusy."""
    busy = Hasher(HashPolicy(memory_kib=8192, time_cost=1), workers=1, max_pending=0)
    try:
        with pytest.raises(HasherBusy):
            await busy.hash(PASSWORD)
        with pytest.raises(HasherBusy):
            await busy.verify("$argon2id$x", PASSWORD)
        with pytest.raises(HasherBusy):
            await busy.burn(PASSWORD)
        assert busy.pending == 0
    finally:
        busy.close()


async def test_second_hash_is_refused_while_one_is_pending(hasher: Hasher) -> None:
    """With max_pending=1, a hash in flight makes the next call HasherBusy."""
    hasher.max_pending = 1
    try:
        first = asyncio.create_task(hasher.hash(PASSWORD))
        await asyncio.sleep(0)  # let the first call start and count itself
        assert hasher.pending == 1
        with pytest.raises(HasherBusy):
            await hasher.hash(PASSWORD)
        assert (await first).startswith("$argon2id$")
        assert hasher.pending == 0
    finally:
        hasher.max_pending = 256


async def test_hashing_does_not_block_the_event_loop(hasher: Hasher) -> None:
    """While a hash runs, other coroutines keep running (it is in a worker thread)."""
    ticks = 0
    finished = False

    async def ticker() -> None:
        nonlocal ticks
        while not finished:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    await hasher.hash(PASSWORD)
    finished = True
    await task
    # A hash blocking the loop would leave the ticker at 0 or 1 ticks; ~20 ms of
    # Argon2id in a thread gives it hundreds at least.
    assert ticks > 20
