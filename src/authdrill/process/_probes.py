"""Readiness probes: one real check each, returning why it is not ready yet.

A probe's ``check`` returns ``None`` when the service is ready and otherwise a short
reason (``"connection refused"``, ``"HTTP 503"``, ``"no line matching 'ready on'"``) that
ends up in the start error if the deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["HttpProbe", "LogProbe", "ProbeContext", "ReadinessProbe", "TcpProbe"]


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """Where the service is: its address, its log file and where this start's output begins."""

    host: str
    port: int | None
    log_path: Path
    log_offset: int = 0


class ReadinessProbe(Protocol):
    """A check that a starting service is ready."""

    def describe(self) -> str:
        """A few words for messages (``HTTP GET /health/ready``)."""

    async def check(self, ctx: ProbeContext) -> str | None:
        """``None`` when ready, else why not."""


async def _connect(
    ctx: ProbeContext, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if ctx.port is None:
        raise OSError("service has no port")
    async with asyncio.timeout(timeout_s):
        return await asyncio.open_connection(ctx.host, ctx.port)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@dataclass(frozen=True, slots=True)
class TcpProbe:
    """Ready when the port accepts a TCP connection."""

    timeout_s: float = 1.0

    def describe(self) -> str:
        return "TCP connect"

    async def check(self, ctx: ProbeContext) -> str | None:
        try:
            _, writer = await _connect(ctx, self.timeout_s)
        except TimeoutError:
            return "connect timed out"
        except OSError as exc:
            return exc.strerror or str(exc)
        await _close(writer)
        return None


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """Ready when ``GET path`` answers ``status`` (plain HTTP/1.1 over a fresh socket)."""

    path: str = "/health/ready"
    status: int = 200
    timeout_s: float = 2.0

    def describe(self) -> str:
        return f"HTTP GET {self.path} == {self.status}"

    async def check(self, ctx: ProbeContext) -> str | None:
        try:
            reader, writer = await _connect(ctx, self.timeout_s)
        except TimeoutError:
            return "connect timed out"
        except OSError as exc:
            return exc.strerror or str(exc)
        try:
            request = (
                f"GET {self.path} HTTP/1.1\r\nHost: {ctx.host}:{ctx.port}\r\n"
                "Connection: close\r\nUser-Agent: authdrill-probe\r\n\r\n"
            )
            writer.write(request.encode("ascii"))
            async with asyncio.timeout(self.timeout_s):
                status_line = await reader.readline()
        except (TimeoutError, OSError) as exc:
            return f"no HTTP answer ({type(exc).__name__})"
        finally:
            await _close(writer)
        parts = status_line.decode("latin-1").split()
        if len(parts) < 2 or not parts[1].isdigit():  # noqa: PLR2004 - "HTTP/1.1 200"
            return f"not an HTTP response: {status_line[:40]!r}"
        code = int(parts[1])
        return None if code == self.status else f"HTTP {code}"


@dataclass(frozen=True, slots=True)
class LogProbe:
    """Ready when a line of the service's log matches ``pattern`` (since this start)."""

    pattern: str

    def describe(self) -> str:
        return f"log line matching {self.pattern!r}"

    async def check(self, ctx: ProbeContext) -> str | None:
        regex = re.compile(self.pattern)
        try:
            with ctx.log_path.open("rb") as handle:
                handle.seek(ctx.log_offset)  # only this start's output counts
                text = handle.read().decode(errors="replace")
        except OSError as exc:
            return f"cannot read log: {exc.strerror}"
        if any(regex.search(line) for line in text.splitlines()):
            return None
        return f"no line matching {self.pattern!r} yet"
