"""Password policy (pure) and Argon2id hashing that never blocks the event loop.

Hashing runs in a small thread pool (argon2-cffi releases the GIL), so a login costs
the event loop nothing while ~20 ms of Argon2id runs. When more hashes are waiting than
:attr:`Hasher.max_pending` the hasher refuses at once (:class:`HasherBusy`) instead of
letting every login queue: under a flood, auth sheds load with a fast 503.

Unknown users are verified against a dummy hash (:meth:`Hasher.burn`), so "no such
user" and "wrong password" take the same time.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "HashPolicy",
    "Hasher",
    "HasherBusy",
    "password_problems",
    "username_problems",
]

_T = TypeVar("_T")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128  # caps hashing input; NIST asks to allow at least 64
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{2,63}")

# OWASP Password Storage Cheat Sheet: Argon2id configurations of equal strength.
_OWASP_MINIMA = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))


@dataclass(frozen=True, slots=True, kw_only=True)
class HashPolicy:
    """Argon2id cost parameters."""

    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1

    def meets_owasp(self) -> bool:
        """Whether these costs are at or above one of OWASP's minimum configurations."""
        return any(self.memory_kib >= m and self.time_cost >= t for m, t in _OWASP_MINIMA)


def username_problems(username: str) -> list[str]:
    """Why ``username`` (already lower-cased) is not acceptable; empty when it is."""
    if not _USERNAME.fullmatch(username):
        return ["username must be 3-64 characters of a-z 0-9 . _ @ + - (starting alphanumeric)"]
    return []


def password_problems(password: str, *, username: str) -> list[str]:
    """Why ``password`` is not acceptable for ``username``; empty when it is."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().lower() == username.lower():
        problems.append("password must not be the username")
    return problems


class HasherBusy(Exception):  # noqa: N818 - a load-shedding signal, mapped to 503
    """Too many hashes are waiting; the caller should answer 503 + Retry-After."""


class Hasher:
    """Argon2id hashing and verification in a thread pool, with bounded queueing."""

    def __init__(
        self, policy: HashPolicy, *, workers: int | None = None, max_pending: int = 256
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_kib,
            parallelism=policy.parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 2, thread_name_prefix="argon2"
        )
        self._dummy = self._hasher.hash("dummy password for unknown users")
        self.max_pending = max_pending
        self.pending = 0

    async def _run(self, fn: Callable[..., _T], *args: str) -> _T:
        if self.pending >= self.max_pending:
            raise HasherBusy
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, fn, *args)
        finally:
            self.pending -= 1

    async def hash(self, password: str) -> str:
        """A new Argon2id hash of ``password`` (fresh random salt)."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored: str, password: str) -> tuple[bool, bool]:
        """``(matches, needs_rehash)`` for ``password`` against ``stored``."""
        return await self._run(self._verify_sync, stored, password)

    async def burn(self, password: str) -> None:
        """Spend the time of one verification (for unknown users)."""
        await self._run(self._verify_sync, self._dummy, password)

    def _verify_sync(self, stored: str, password: str) -> tuple[bool, bool]:
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self._hasher.check_needs_rehash(stored)

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
