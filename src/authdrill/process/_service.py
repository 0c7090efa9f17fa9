"""One service as a real OS process: start, probe, stop, kill, freeze, restart.

* **start**: refuse if the port already accepts connections; spawn in a new session
  (its own process group) through the launcher (dies with us on Linux); output goes to
  a per-service log file; race the readiness probe against the child's exit under a
  monotonic deadline; failing, raise :class:`~authdrill.errors.ServiceStartError` with
  the exit code, the output tail and the last probe error.
* **stop**: SIGTERM to the group, a bounded wait, then SIGKILL; reap; return the code.
* **kill**: SIGKILL to the group (``taskkill /F /T`` on Windows) and measure how long
  until the pid is gone and the port refuses connections.
* **freeze / thaw**: SIGSTOP / SIGCONT to the group (psutil suspend/resume on Windows).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from authdrill.errors import PortInUseError, ServiceError, ServiceStartError, ServiceStopError
from authdrill.process._gone import wait_gone_async
from authdrill.process._ports import is_listening, wait_refusing
from authdrill.process._probes import HttpProbe, ProbeContext, ReadinessProbe
from authdrill.process._reaper import ChildRecord, RunRecord

__all__ = ["KillReport", "ManagedService", "ServiceSpec", "StartReport"]

_TAIL_LINES = 40
_PORT_DEADLINE_S = 5.0
_KILL_DEADLINE_S = 5.0  # SIGKILLed and not gone by then: reported, not waited for
_IS_POSIX = os.name != "nt"
_POSIX_SIGNALS = (
    {
        "term": signal.SIGTERM,
        "kill": signal.SIGKILL,
        "stop": signal.SIGSTOP,
        "cont": signal.SIGCONT,
    }
    if _IS_POSIX
    else {}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSpec:
    """How to run one service.

    Attributes:
        name: unique within a run (``auth``, ``backend``).
        argv: the command, already rendered (no placeholders left).
        host: the address the service listens on.
        port: its port, or ``None`` for a service without one (log probe only).
        env: extra environment variables (on top of ours unless ``inherit_env`` is off).
        ready: the readiness probe.
        start_timeout_s: the deadline for readiness after spawning.
        stop_timeout_s: how long SIGTERM gets before SIGKILL.
    """

    name: str
    argv: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    inherit_env: bool = True
    ready: ReadinessProbe = field(default_factory=HttpProbe)
    start_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0

    @property
    def url(self) -> str | None:
        """``http://host:port`` if the service has a port."""
        if self.port is None:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class StartReport:
    """How a start went: ``ready_s`` from spawn to a passing probe."""

    pid: int
    ready_s: float


@dataclass(frozen=True, slots=True)
class KillReport:
    """How a kill went, in seconds from the signal.

    Attributes:
        pid_gone_s: until the process and every descendant were gone (``None``: some
            were still there when the 5 s bound passed).
        port_refusing_s: until the port refused connections (``None``: no port, or it
            still accepted when the 5 s bound passed).
        exit_code: the (negative signal) exit code.
    """

    pid_gone_s: float | None
    port_refusing_s: float | None
    exit_code: int | None


class ManagedService:
    """A service process under supervision (not started until :meth:`start`)."""

    def __init__(
        self, spec: ServiceSpec, *, log_dir: Path, record: RunRecord | None = None
    ) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self._record = record
        self._proc: asyncio.subprocess.Process | None = None
        self._log_offset = 0
        self.frozen = False
        self.starts = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def url(self) -> str | None:
        return self.spec.url

    @property
    def pid(self) -> int | None:
        """The pid of the running process, else ``None``."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """Whether the process has been started and not yet reaped."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    def output_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last ``lines`` lines this start wrote."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ start
    def _command(self) -> list[str]:
        if _IS_POSIX:
            launcher = [sys.executable, "-m", "authdrill.process._launch", str(os.getpid()), "--"]
            return [*launcher, *self.spec.argv]
        return list(self.spec.argv)

    async def start(self) -> StartReport:
        """Spawn the service and wait until its probe passes.

        Raises:
            PortInUseError: the port already accepts connections.
            ServiceStartError: it could not be spawned, exited, or missed the deadline.
        """
        spec = self.spec
        if self.running:
            raise ServiceError(spec.name, "is already running")
        if spec.port is not None and await is_listening(spec.host, spec.port):
            raise PortInUseError(spec.name, spec.host, spec.port)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.env} if spec.inherit_env else dict(spec.env)
        loop = asyncio.get_running_loop()
        with self.log_path.open("ab") as log_file:
            self._log_offset = log_file.tell()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            log_file.write(f"--- authdrill: started {spec.name} at {stamp} ---\n".encode())
            log_file.flush()
            started = loop.time()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=spec.cwd,
                    start_new_session=_IS_POSIX,
                )
            except OSError as exc:
                raise ServiceStartError(
                    spec.name, f"cannot run {spec.argv[0]!r}: {exc.strerror}"
                ) from exc
        self.starts += 1
        self.frozen = False
        self._remember()
        await self._wait_ready(started + spec.start_timeout_s)
        return StartReport(pid=self._proc.pid, ready_s=loop.time() - started)

    def _remember(self) -> None:
        if self._record is None or self._proc is None:
            return
        try:
            create_time = psutil.Process(self._proc.pid).create_time()
        except psutil.Error:
            return  # already gone; the readiness wait reports why
        self._record.add(
            ChildRecord(
                name=self.name, pid=self._proc.pid, pgid=self._proc.pid, create_time=create_time
            )
        )

    async def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        ctx = ProbeContext(self.spec.host, self.spec.port, self.log_path, self._log_offset)
        exited = asyncio.ensure_future(self._proc.wait())
        last_error: str | None = None
        pause = 0.005
        try:
            while loop.time() < deadline:
                probe = asyncio.ensure_future(self.spec.ready.check(ctx))
                done, _ = await asyncio.wait(
                    {exited, probe},
                    timeout=deadline - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if exited in done:
                    probe.cancel()
                    raise ServiceStartError(
                        self.name,
                        "exited while starting",
                        exit_code=self._proc.returncode,
                        output_tail=self.output_tail(),
                        last_probe_error=last_error,
                    )
                if probe not in done:
                    probe.cancel()
                    break
                last_error = probe.result()
                if last_error is None:
                    return
                # between probes, still return at once if the child exits
                await asyncio.wait({exited}, timeout=min(pause, max(0.0, deadline - loop.time())))
                pause = min(pause * 2, 0.1)
        finally:
            if not exited.done():
                exited.cancel()
        await self._terminate_group()
        raise ServiceStartError(
            self.name,
            f"not ready within {self.spec.start_timeout_s:g} s ({self.spec.ready.describe()})",
            output_tail=self.output_tail(),
            last_probe_error=last_error,
        )

    # ------------------------------------------------------------------ signals
    def _descendants(self) -> list[psutil.Process]:
        if self._proc is None:
            return []
        try:
            return psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _signal_group(self, action: str) -> None:
        """Send ``action`` (term, kill, stop, cont) to the whole process group."""
        assert self._proc is not None
        if _IS_POSIX:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, _POSIX_SIGNALS[action])
            return
        # Windows: no process groups to signal; taskkill /T walks the tree.  # pragma: no cover
        if action == "kill":  # pragma: no cover
            subprocess.run(  # noqa: S603
                ["taskkill", "/F", "/T", "/PID", str(self._proc.pid)],  # noqa: S607
                check=False,
                capture_output=True,
            )
        elif action == "term":  # pragma: no cover
            self._proc.terminate()

    async def _terminate_group(self, *, within_s: float | None = None) -> bool:
        """Kill the group and every descendant that escaped it; reap.

        Returns whether all of them were gone within ``within_s`` (``None``: wait for
        the process itself as long as it takes). One still there stays recorded for
        the reaper.
        """
        if self._proc is None:
            return True
        strays = self._descendants()
        if self._proc.returncode is None:
            self._signal_group("kill")
        for stray in strays:
            with contextlib.suppress(psutil.Error):
                stray.kill()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(within_s):
                await self._proc.wait()
        except TimeoutError:
            return False
        left = 1.0 if within_s is None else max(0.0, within_s - (loop.time() - started))
        if await wait_gone_async(strays, timeout_s=left):
            return False
        if self._record is not None:
            self._record.remove(self.name)
        return True

    async def stop(self) -> int | None:
        """SIGTERM, wait up to ``stop_timeout_s``, then SIGKILL; returns the exit code."""
        if not self.running:
            return self.returncode
        assert self._proc is not None
        strays = self._descendants()
        self._signal_group("term")
        if self.frozen:
            self._signal_group("cont")  # a stopped process cannot act on SIGTERM
        try:
            async with asyncio.timeout(self.spec.stop_timeout_s):
                await self._proc.wait()
        except TimeoutError:
            self._signal_group("kill")
            await self._proc.wait()
        for stray in strays:
            with contextlib.suppress(psutil.Error):
                stray.kill()
        self.frozen = False
        if self._record is not None:
            self._record.remove(self.name)
        return self._proc.returncode

    async def kill(self) -> KillReport:
        """SIGKILL the whole process tree and measure until pid gone and port refusing.

        Raises:
            ServiceStopError: the service is not running.
        """
        if not self.running:
            raise ServiceStopError(self.name, "is not running, cannot be killed")
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        sent = loop.time()
        gone = await self._terminate_group(within_s=_KILL_DEADLINE_S)
        pid_gone = loop.time() - sent if gone else None
        refusing: float | None = None
        if self.spec.port is not None and await wait_refusing(
            self.spec.host, self.spec.port, deadline=sent + _PORT_DEADLINE_S
        ):
            refusing = loop.time() - sent
        self.frozen = False
        return KillReport(
            pid_gone_s=pid_gone, port_refusing_s=refusing, exit_code=self._proc.returncode
        )

    def freeze(self) -> None:
        """Stop the process group (SIGSTOP); it keeps its sockets but answers nothing."""
        self._require_running("frozen")
        if _IS_POSIX:
            self._signal_group("stop")
        else:  # pragma: no cover - Windows
            psutil.Process(self.pid).suspend()
        self.frozen = True

    def thaw(self) -> None:
        """Resume a frozen process group (SIGCONT)."""
        self._require_running("thawed")
        if _IS_POSIX:
            self._signal_group("cont")
        else:  # pragma: no cover - Windows
            psutil.Process(self.pid).resume()
        self.frozen = False

    def _require_running(self, verb: str) -> None:
        if not self.running:
            raise ServiceStopError(self.name, f"is not running, cannot be {verb}")

    async def wait(self) -> int | None:
        """Wait until the process exits; its exit code (``None`` if never started)."""
        if self._proc is None:
            return None
        return await self._proc.wait()

    async def restart(self) -> StartReport:
        """Stop if running, then start again with the same spec (same port)."""
        await self.stop()
        return await self.start()
