"""A stand-in service for supervisor tests: stdlib only, one behaviour per mode.

Every line goes to stdout, flushed, so the supervisor's log file and output tail see it.

    service.py http --port P [--delay S] [--ignore-term] [--grandchild] [--hit URL]
        HTTP server; GET /health answers 503 until S seconds after start, then 200.
        GET /break makes every later GET answer 503 (a dependant broke it). SIGTERM
        exits 0 (unless --ignore-term); --grandchild first spawns a sleeping grandchild
        in the same process group; --hit GETs URL once before serving.
    service.py tcp --port P [--delay S]     accept TCP connections from S seconds on
    service.py log [--delay S]              print "ready" after S seconds, then idle
    service.py exit [--port P] --code N --say TEXT
        print TEXT (and a line on stderr), exit N
    service.py runner --run-dir D --port P  a drill runner: a Supervisor with one
        ``http`` child; prints "child pid N" and then waits forever
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_FOREVER_S = 3600.0


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - this program talks through its output


def _exit_on_term(_signum: int, _frame: Any) -> None:
    say("got SIGTERM, exiting")
    sys.exit(0)


def _handler(ready_at: float) -> type[BaseHTTPRequestHandler]:
    broken = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/break":
                broken.set()
                say("broken by a GET /break")
            ready = time.monotonic() >= ready_at and not broken.is_set()
            status = 200 if ready or self.path not in {"/health", "/health/ready"} else 503
            body = f"{os.getpid()}\n".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Quiet: probes would fill the log."""

    return Handler


def serve_http(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN if args.ignore_term else _exit_on_term)
    if args.grandchild:
        grandchild = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", f"import time; time.sleep({_FOREVER_S})"]
        )
        say(f"grandchild pid {grandchild.pid}")
    if args.hit:
        with urllib.request.urlopen(args.hit, timeout=10) as answer:  # noqa: S310 - a test URL
            say(f"GET {args.hit}: {answer.status}")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(time.monotonic() + args.delay))
    server.daemon_threads = True
    say(f"serving pid {os.getpid()} on port {args.port}")
    server.serve_forever()
    return 0


def serve_tcp(args: argparse.Namespace) -> int:
    time.sleep(args.delay)  # a slow start, simulated
    with socket.create_server(("127.0.0.1", args.port)) as server:
        say(f"listening pid {os.getpid()} on port {args.port}")
        while True:
            conn, _ = server.accept()
            conn.close()


def log_ready(args: argparse.Namespace) -> int:
    say("starting")
    time.sleep(args.delay)  # a slow start, simulated
    say("ready")
    threading.Event().wait()
    return 0


def exit_early(args: argparse.Namespace) -> int:
    say(args.say)
    print("fatal: giving up", file=sys.stderr, flush=True)  # noqa: T201
    return int(args.code)


async def _runner(args: argparse.Namespace) -> int:
    from authdrill.process import HttpProbe, ServiceSpec, Supervisor  # noqa: PLC0415

    spec = ServiceSpec(
        name="child",
        argv=(sys.executable, __file__, "http", "--port", str(args.port)),
        port=args.port,
        ready=HttpProbe("/health"),
    )
    async with Supervisor(Path(args.run_dir)) as sup:
        report = await sup.start(spec)
        say(f"child pid {report.pid}")
        await asyncio.Event().wait()
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    http = modes.add_parser("http")
    http.add_argument("--port", type=int, required=True)
    http.add_argument("--delay", type=float, default=0.0)
    http.add_argument("--ignore-term", action="store_true")
    http.add_argument("--grandchild", action="store_true")
    http.add_argument("--hit")
    tcp = modes.add_parser("tcp")
    tcp.add_argument("--port", type=int, required=True)
    tcp.add_argument("--delay", type=float, default=0.0)
    log = modes.add_parser("log")
    log.add_argument("--delay", type=float, default=0.0)
    early = modes.add_parser("exit")
    early.add_argument("--port", type=int)  # accepted like the others, never bound
    early.add_argument("--code", type=int, required=True)
    early.add_argument("--say", required=True)
    runner = modes.add_parser("runner")
    runner.add_argument("--run-dir", required=True)
    runner.add_argument("--port", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.mode == "http":
        return serve_http(args)
    if args.mode == "tcp":
        return serve_tcp(args)
    if args.mode == "log":
        return log_ready(args)
    if args.mode == "exit":
        return exit_early(args)
    return asyncio.run(_runner(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
