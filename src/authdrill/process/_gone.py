"""Whether processes are gone, counting zombies as gone (their work is over).

A killed grandchild is re-parented to PID 1, which in containers may reap it only every
few seconds; until then psutil still lists it, as a zombie. Waiting for it to vanish
would stall for nothing, so a zombie counts as gone here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import psutil

__all__ = ["alive", "wait_gone", "wait_gone_async"]

_POLL_S = 0.005


def alive(process: psutil.Process) -> bool:
    """Running, and not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(processes: Sequence[psutil.Process], *, timeout_s: float) -> list[psutil.Process]:
    """Block until every process is gone (or a zombie); returns those still alive."""
    deadline = time.monotonic() + timeout_s
    remaining = [p for p in processes if alive(p)]
    while remaining and time.monotonic() < deadline:
        time.sleep(_POLL_S)  # a bounded poll of process state
        remaining = [p for p in remaining if alive(p)]
    return remaining


async def wait_gone_async(
    processes: Sequence[psutil.Process], *, timeout_s: float
) -> list[psutil.Process]:
    """:func:`wait_gone` without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    remaining = [p for p in processes if alive(p)]
    while remaining and loop.time() < deadline:
        await asyncio.sleep(_POLL_S)  # a bounded poll of process state
        remaining = [p for p in remaining if alive(p)]
    return remaining
