"""Run one stack service as a process: bind, open resources, serve, close.

The runner binds the listening socket itself (so a taken port is a clear
:class:`~authdrill.errors.PortInUseError`, not a uvicorn traceback), opens the service's
resources *before* serving (so an unreachable database or an unreadable key file fails
the start with a message naming it), then hands the socket to uvicorn. Once uvicorn is
accepting it logs one line, ``<service> ready on http://host:port``, that log-line
readiness probes can wait for. SIGINT/SIGTERM shut it down gracefully.

Exit codes: 0 after a clean shutdown, 2 when the service could not start.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import uvicorn

from authdrill.errors import AuthdrillError, ConfigError, PortInUseError, ServiceStartError
from authdrill.stack.logs import configure_logging

__all__ = ["RunningService", "bind_socket", "run_service", "serve_main"]

EXIT_OK = 0
EXIT_START_FAILED = 2
_BACKLOG = 4096
_GRACEFUL_SHUTDOWN_S = 5

log = logging.getLogger("authdrill.server")


class RunningService(Protocol):
    """What a service hands the runner once its resources are open."""

    @property
    def app(self) -> Any:
        """The ASGI application to serve."""

    async def aclose(self) -> None:
        """Release every resource the service opened."""


def bind_socket(service: str, host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (port 0 = any free port).

    ``SO_REUSEADDR`` lets a restarted service take its port back while old connections
    linger in TIME_WAIT, but never while another process is listening on it.

    Raises:
        PortInUseError: another socket is listening on the address.
        ConfigError: the host cannot be resolved or is not an address of this machine.
        ServiceStartError: any other reason the OS refused (permissions, ...).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError("--host", f"cannot resolve {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would allow stealing a live port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(service, host, port) from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError("--host", f"{host} is not an address of this machine") from exc
        raise ServiceStartError(service, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(False)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that announces, in one log line, when it accepts connections."""

    def __init__(self, config: uvicorn.Config, *, service: str, url: str) -> None:
        super().__init__(config)
        self._service = service
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            log.info("%s ready on %s (pid %d)", self._service, self._url, os.getpid())


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve(
    service: str,
    host: str,
    port: int,
    open_service: Callable[[], Awaitable[RunningService]],
) -> None:
    sock = bind_socket(service, host, port)
    try:
        running = await open_service()
        try:
            config = uvicorn.Config(
                running.app,
                access_log=False,  # an access log costs ~half the throughput; metrics count
                log_config=None,
                lifespan="on",
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
                ws_max_size=64 * 1024,
            )
            await _Server(config, service=service, url=_url(sock)).serve(sockets=[sock])
        finally:
            await running.aclose()
    finally:
        sock.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent on Windows
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_service(
    service: str,
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    parse: Callable[[Sequence[str], Mapping[str, str]], Any],
    opener: Callable[[Any], Callable[[], Awaitable[RunningService]]],
) -> int:
    """Parse settings, then serve ``service`` until SIGINT/SIGTERM.

    ``parse(argv, environ)`` returns a settings object with ``host``, ``port`` and
    ``log_level``; ``opener(settings)`` returns the coroutine function that opens the
    service's resources.

    Returns:
        0 after a clean shutdown; 2 when the settings are bad or the service could not
        start (the reason is printed on stderr, naming what was wrong).
    """
    prog = f"authdrill serve {service}"
    try:
        settings = parse(argv, environ)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    configure_logging(settings.log_level, service=service)
    try:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            runner.run(_serve(service, settings.host, settings.port, opener(settings)))
    except AuthdrillError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def serve_main(
    service: str,
    opener: Callable[[Any], Awaitable[RunningService]],
    argv: Sequence[str] | None = None,
) -> int:
    """The ``main()`` of a service module: settings of ``service`` (auth or backend) from
    ``argv`` (default: the process arguments) and the environment, built by ``opener``."""
    from authdrill.stack.auth.settings import parse_auth_settings  # noqa: PLC0415 - per service
    from authdrill.stack.backend.settings import parse_backend_settings  # noqa: PLC0415

    return run_service(
        service,
        sys.argv[1:] if argv is None else argv,
        os.environ,
        parse=parse_auth_settings if service == "auth" else parse_backend_settings,
        opener=lambda settings: functools.partial(opener, settings),
    )
