"""Test-wide helpers: the time unit, and waiting on a condition with a deadline."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

# Every duration a test waits for is a multiple of this unit; slow machines raise it.
TIME_UNIT = float(os.environ.get("AUTHDRILL_TEST_TIME_UNIT", "1"))


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within_s: float, what: str, interval_s: float = 0.02
) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``within_s`` units.

    Returns the truthy value. The interval is a polling period, not a settle time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s * TIME_UNIT
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval_s)
    pytest.fail(f"{what}: not true within {within_s * TIME_UNIT:g} s (last: {last!r})")
