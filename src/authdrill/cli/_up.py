"""``authdrill up``: start a target (default: the reference stack) until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any

from authdrill.errors import AuthdrillError, ConfigError
from authdrill.process import Supervisor, free_port
from authdrill.target import Target, allocate_ports, render_services, resolve_target

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``up``."""
    parser = commands.add_parser(
        "up", help="start a target (default: the reference stack) until Ctrl-C"
    )
    parser.add_argument(
        "--target", help="target TOML file, or builtin:<name> (default builtin:reference)"
    )
    parser.add_argument(
        "--port", action="append", default=[], metavar="SERVICE=PORT",
        help="fix a service's port, e.g. --port auth=8001 (repeatable; default: free ports)",
    )  # fmt: skip
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(".authdrill/up"),
        help="logs and service data (kept between runs)",
    )
    parser.set_defaults(handler=_run)


def _fixed_ports(target: Target, pairs: list[str]) -> Target:
    services = dict(target.services)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in services or not raw.isdigit() or not 0 < int(raw) < 65536:  # noqa: PLR2004
            raise ConfigError(
                f"--port {pair}", f"expected SERVICE=PORT with SERVICE one of {', '.join(services)}"
            )
        services[name] = dataclasses.replace(services[name], port=int(raw))
    return dataclasses.replace(target, services=services)


def _run(ns: argparse.Namespace) -> int:
    try:
        target = _fixed_ports(resolve_target(ns.target), ns.port)
        return asyncio.run(_up(target, ns.run_dir))
    except AuthdrillError as exc:
        print(f"authdrill up: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


async def _up(target: Target, run_dir: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    ports = allocate_ports(target, free_port)
    specs = render_services(
        target, run_dir=run_dir, ports=ports, python=sys.executable, environ=os.environ
    )
    async with Supervisor(run_dir) as sup:
        for spec in specs:
            await sup.start(spec)
        for service in sup.services:
            print(
                f"{service.name:10} {service.url or '(no port)'}  pid {service.pid}  "
                f"log {service.log_path}"
            )
        print("Ctrl-C stops everything.", flush=True)
        exits = {asyncio.ensure_future(s.wait()): s for s in sup.services}
        waiter = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({waiter, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, *exits):
            task.cancel()
        died = [exits[t] for t in done if t in exits]
        for service in died:
            print(
                f"authdrill up: {service.name} exited with code {service.returncode}; "
                f"last output:\n"
                f"{service.output_tail()}",
                file=sys.stderr,
            )
        return 1 if died else 0
