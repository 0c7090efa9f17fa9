"""Free ports and whether something listens on a port."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket

__all__ = ["free_port", "is_listening", "wait_refusing"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing was bound to a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def is_listening(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted within ``timeout_s``.

    A refused connection is ``False`` at once; a timeout (a frozen process keeps its
    listening socket and the kernel still completes handshakes) is ``True``.
    """
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return True
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_refusing(host: str, port: int, *, deadline: float) -> bool:
    """Connect until the port refuses (``True``) or loop time ``deadline`` passes.

    Each attempt is a real connect; a refusal is immediate on loopback, so this returns
    within one round trip of the listener disappearing.
    """
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except ConnectionRefusedError:
            return True
        except OSError as exc:
            if exc.errno in {errno.ECONNREFUSED, errno.ECONNRESET}:
                return True
            await asyncio.sleep(0.001)  # a transient error: retry the probe, bounded by deadline
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await asyncio.sleep(0.001)  # still accepting; probe again (bounded by deadline)
    return False
