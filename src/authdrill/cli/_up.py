"""``authdrill up``: start the reference stack and keep it running until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from authdrill.errors import AuthdrillError
from authdrill.process import Supervisor
from authdrill.stack.reference import auth_spec, backend_spec

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``up``."""
    parser = commands.add_parser("up", help="start the reference stack until Ctrl-C")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--auth-port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--backend-port", type=int, default=8002, help="0 picks a free port")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".authdrill/up"), help="keys and databases (kept)"
    )
    parser.set_defaults(handler=_run)


def _run(ns: argparse.Namespace) -> int:
    try:
        return asyncio.run(_up(ns))
    except AuthdrillError as exc:
        print(f"authdrill up: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


async def _up(ns: argparse.Namespace) -> int:
    from authdrill.process import free_port  # noqa: PLC0415

    auth_port = ns.auth_port or free_port(ns.host)
    backend_port = ns.backend_port or free_port(ns.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no loop signal handlers
            loop.add_signal_handler(sig, stop.set)
    async with Supervisor(ns.data_dir / "run") as sup:
        auth = auth_spec(port=auth_port, host=ns.host, data_dir=ns.data_dir / "auth")
        await sup.start(auth)
        assert auth.url is not None
        await sup.start(
            backend_spec(
                port=backend_port, host=ns.host, data_dir=ns.data_dir / "backend", auth_url=auth.url
            )
        )
        for service in sup.services:
            print(f"{service.name:8} {service.url}  (pid {service.pid}, log {service.log_path})")
        print("Ctrl-C stops the stack.", flush=True)
        exits = {asyncio.ensure_future(s.wait()): s for s in sup.services}
        waiter = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({waiter, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, *exits):
            task.cancel()
        died = [exits[t] for t in done if t in exits]
        for service in died:
            print(
                f"authdrill up: {service.name} exited with code {service.returncode}; "
                f"last output:\n{service.output_tail()}",
                file=sys.stderr,
            )
        return 1 if died else 0
