"""The process layer with real child processes, real signals and real sockets.

The children are ``programs/service.py`` in one of its modes (an HTTP server, a TCP
listener, a log-line printer, one that exits at once, a drill runner).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from authdrill.errors import PortInUseError, ServiceStartError
from authdrill.process import (
    HttpProbe,
    LogProbe,
    ReadinessProbe,
    ServiceSpec,
    Supervisor,
    TcpProbe,
    free_port,
)
from tests.support import TIME_UNIT, eventually, pid_gone

PROGRAM = Path(__file__).parent / "programs" / "service.py"
START_MARKER = "--- authdrill: started"
SLOW_START_S = 0.3  # how long the stand-in services take to become ready, when asked to


def _spec(
    name: str,
    mode: str,
    *args: str,
    port: int | None = None,
    ready: ReadinessProbe | None = None,
    start_timeout_s: float = 20.0 * TIME_UNIT,
    stop_timeout_s: float = 5.0 * TIME_UNIT,
) -> ServiceSpec:
    """A spec running ``programs/service.py MODE [--port PORT] ARGS``."""
    port_args = ("--port", str(port)) if port is not None else ()
    return ServiceSpec(
        name=name,
        argv=(sys.executable, str(PROGRAM), mode, *port_args, *args),
        port=port,
        ready=ready or HttpProbe("/health"),
        start_timeout_s=start_timeout_s,
        stop_timeout_s=stop_timeout_s,
    )


def _http(
    name: str = "web",
    *args: str,
    start_timeout_s: float = 20.0 * TIME_UNIT,
    stop_timeout_s: float = 5.0 * TIME_UNIT,
) -> ServiceSpec:
    return _spec(
        name,
        "http",
        *args,
        port=free_port(),
        start_timeout_s=start_timeout_s,
        stop_timeout_s=stop_timeout_s,
    )


def _port(spec: ServiceSpec) -> int:
    assert spec.port is not None
    return spec.port


async def _get(port: int, path: str = "/health") -> tuple[int, str]:
    """``GET path`` over a fresh connection: the status and the body (the server's pid)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        response = (await reader.read()).decode()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = response.partition("\r\n\r\n")
    return int(head.split()[1]), body.strip()


async def _refused(port: int) -> bool:
    """Whether a connection to ``port`` is refused (nothing listens)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


def _status(pid: int) -> str:
    return str(psutil.Process(pid).status())


def _pid_in(text: str, label: str) -> int:
    match = re.search(rf"{label} pid (\d+)", text)
    assert match, f"no '{label} pid N' line in:\n{text}"
    return int(match.group(1))


@pytest.fixture
async def sup(tmp_path: Path) -> AsyncIterator[Supervisor]:
    """A supervisor with its own run and state directories."""
    async with Supervisor(tmp_path / "run", state_dir=tmp_path / "state") as supervisor:
        yield supervisor


# ---------------------------------------------------------------------- start
@pytest.mark.parametrize(
    ("mode", "probe", "with_port"),
    [
        ("http", HttpProbe("/health"), True),
        ("tcp", TcpProbe(), True),
        ("log", LogProbe(r"^ready$"), False),
    ],
    ids=["http", "tcp", "log"],
)
async def test_probe_passes_once_the_service_is_ready(
    sup: Supervisor, mode: str, probe: ReadinessProbe, with_port: bool
) -> None:
    """Each probe kind waits through a slow start and passes once the service is ready."""
    spec = _spec(
        mode,
        mode,
        "--delay",
        str(SLOW_START_S),
        port=free_port() if with_port else None,
        ready=probe,
    )
    report = await sup.start(spec)
    assert SLOW_START_S <= report.ready_s < spec.start_timeout_s
    assert report.pid == sup[mode].pid
    assert sup[mode].running
    if mode == "http":
        assert await _get(_port(spec)) == (200, str(report.pid))
    elif mode == "tcp":
        assert not await _refused(_port(spec))
    else:
        assert "ready" in sup[mode].output_tail().splitlines()


async def test_taken_port_is_refused_before_spawning(sup: Supervisor) -> None:
    """A port something already listens on gives PortInUseError and no child at all."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        spec = _spec("web", "http", port=port)
        with pytest.raises(PortInUseError) as caught:
            await sup.start(spec)
    error = caught.value
    assert (error.service, error.host, error.port) == ("web", "127.0.0.1", port)
    assert f"web: cannot listen on 127.0.0.1:{port}: address already in use" in str(error)
    assert sup["web"].starts == 0
    assert sup["web"].pid is None
    log_path = sup.log_dir / "web.log"
    assert not log_path.exists() or START_MARKER not in log_path.read_text()


async def test_child_exiting_during_start_fails_fast_with_its_output(sup: Supervisor) -> None:
    """A child that exits while starting raises at once with its exit code and output."""
    spec = _spec("early", "exit", "--code", "3", "--say", "boom: no config", port=free_port())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServiceStartError) as caught:
        await sup.start(spec)
    elapsed = loop.time() - started
    error = caught.value
    assert error.service == "early"
    assert error.exit_code == 3
    assert "boom: no config" in error.output_tail
    assert "fatal: giving up" in error.output_tail  # stderr is captured too
    assert "exited while starting" in str(error)
    assert "exit code 3" in str(error)
    assert elapsed < spec.start_timeout_s / 4, f"took {elapsed:.2f} s: it waited for the deadline"
    assert not sup["early"].running


async def test_missed_deadline_names_the_probe_and_leaves_no_process(sup: Supervisor) -> None:
    """A child never ready fails at its deadline with the last probe error, and is killed."""
    spec = _http("slow", "--delay", "3600", start_timeout_s=1.0 * TIME_UNIT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServiceStartError) as caught:
        await sup.start(spec)
    elapsed = loop.time() - started
    error = caught.value
    assert error.exit_code is None
    assert error.last_probe_error == "HTTP 503"
    assert "not ready within" in str(error)
    assert "HTTP GET /health == 200" in str(error)
    assert spec.start_timeout_s <= elapsed < spec.start_timeout_s + 1.0 * TIME_UNIT
    pid = _pid_in(error.output_tail, "serving")
    assert not psutil.pid_exists(pid)
    assert await _refused(_port(spec))


# ---------------------------------------------------------------------- stop / kill
async def test_stop_sends_sigterm_and_returns_the_exit_code(sup: Supervisor) -> None:
    """stop() lets a child that handles SIGTERM exit by itself and returns its code."""
    spec = _http(stop_timeout_s=10.0 * TIME_UNIT)
    pid = (await sup.start(spec)).pid
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await sup["web"].stop()
    assert code == 0, "the child's own SIGTERM handler exits 0; anything else means SIGKILL"
    assert loop.time() - started < spec.stop_timeout_s / 2
    assert "got SIGTERM" in sup["web"].output_tail()
    assert not psutil.pid_exists(pid)


async def test_stop_kills_a_child_that_ignores_sigterm(sup: Supervisor) -> None:
    """A child ignoring SIGTERM is SIGKILLed once stop_timeout_s has passed."""
    spec = _http("stubborn", "--ignore-term", stop_timeout_s=0.5 * TIME_UNIT)
    pid = (await sup.start(spec)).pid
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await sup["stubborn"].stop()
    elapsed = loop.time() - started
    assert code == -signal.SIGKILL
    assert spec.stop_timeout_s <= elapsed < spec.stop_timeout_s + 1.0 * TIME_UNIT
    assert not psutil.pid_exists(pid)


async def test_stop_works_on_a_frozen_child(sup: Supervisor) -> None:
    """A frozen child is resumed so that it can act on SIGTERM, and exits by itself."""
    spec = _http(stop_timeout_s=10.0 * TIME_UNIT)
    pid = (await sup.start(spec)).pid
    sup["web"].freeze()

    async def stopped() -> bool:
        return _status(pid) == psutil.STATUS_STOPPED

    await eventually(stopped, within_s=2, what="child stopped by SIGSTOP")
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await sup["web"].stop()
    assert code == 0
    assert loop.time() - started < spec.stop_timeout_s / 2
    assert not sup["web"].frozen
    assert not psutil.pid_exists(pid)


async def test_kill_reports_pid_gone_and_port_refusing_within_milliseconds(
    sup: Supervisor,
) -> None:
    """kill() SIGKILLs the child and measures, in well under a second, pid gone and port free."""
    spec = _http()
    pid = (await sup.start(spec)).pid

    report = await sup["web"].kill()

    assert report.exit_code == -signal.SIGKILL
    assert 0 < report.pid_gone_s < 1.0 * TIME_UNIT
    assert report.port_refusing_s is not None
    assert report.pid_gone_s <= report.port_refusing_s < 1.0 * TIME_UNIT
    assert not psutil.pid_exists(pid)
    assert await _refused(_port(spec))
    assert not sup["web"].running


async def test_kill_takes_the_whole_process_tree_quickly(sup: Supervisor) -> None:
    """kill() also ends the child's own children, and still reports within a second."""
    spec = _http("tree", "--grandchild")
    pid = (await sup.start(spec)).pid
    grandchild = _pid_in(sup["tree"].output_tail(), "grandchild")
    assert grandchild in {p.pid for p in psutil.Process(pid).children(recursive=True)}

    report = await sup["tree"].kill()

    assert not psutil.pid_exists(pid)
    assert pid_gone(grandchild), "the grandchild outlived the kill"
    assert await _refused(_port(spec))
    assert report.port_refusing_s is not None
    assert report.pid_gone_s < 1.0 * TIME_UNIT, (
        f"kill() took {report.pid_gone_s:.3f} s for a two-process tree: it waited on the "
        "already-dead grandchild (a zombie until init reaps it)"
    )
    assert report.port_refusing_s < 1.0 * TIME_UNIT


# ---------------------------------------------------------------------- freeze / restart
async def test_frozen_child_answers_nothing_until_thawed(sup: Supervisor) -> None:
    """While frozen a request gets no answer; after thaw the same service answers."""
    spec = _http()
    pid = (await sup.start(spec)).pid
    sup["web"].freeze()

    async def stopped() -> bool:
        return _status(pid) == psutil.STATUS_STOPPED

    await eventually(stopped, within_s=2, what="child stopped by SIGSTOP")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3 * TIME_UNIT):
            await _get(_port(spec))
    sup["web"].thaw()
    assert not sup["web"].frozen
    async with asyncio.timeout(5 * TIME_UNIT):
        assert await _get(_port(spec)) == (200, str(pid))


async def test_restart_uses_the_same_port_and_a_new_process(sup: Supervisor) -> None:
    """restart() stops the child and starts a new process on the same port."""
    spec = _http()
    first = await sup.start(spec)
    second = await sup["web"].restart()
    assert second.pid != first.pid
    assert sup["web"].spec.port == spec.port
    assert await _get(_port(spec)) == (200, str(second.pid))
    assert not psutil.pid_exists(first.pid)
    assert sup["web"].starts == 2


# ---------------------------------------------------------------------- windows
class _BodyError(Exception):
    """Raised inside a window to prove the window is closed anyway."""


async def test_stopped_window_restarts_the_service_even_when_the_body_raises(
    sup: Supervisor,
) -> None:
    """sup.stopped() stops for the body and restarts on the same port though the body raised."""
    spec = _http()
    before = (await sup.start(spec)).pid
    seen: dict[str, object] = {}

    async def window() -> None:
        async with sup.stopped("web") as code:
            seen.update(code=code, running=sup["web"].running, refused=await _refused(_port(spec)))
            raise _BodyError

    with pytest.raises(_BodyError):
        await window()
    assert seen == {"code": 0, "running": False, "refused": True}
    after = sup["web"].pid
    assert after is not None
    assert after != before
    assert await _get(_port(spec)) == (200, str(after))


async def test_killed_window_restarts_the_service_even_when_the_body_raises(
    sup: Supervisor,
) -> None:
    """sup.killed() SIGKILLs for the body and restarts on the same port though the body raised."""
    spec = _http()
    before = (await sup.start(spec)).pid
    seen: dict[str, object] = {}

    async def window() -> None:
        async with sup.killed("web") as report:
            seen.update(
                code=report.exit_code,
                alive=psutil.pid_exists(before),
                refused=await _refused(_port(spec)),
            )
            raise _BodyError

    with pytest.raises(_BodyError):
        await window()
    assert seen == {"code": -signal.SIGKILL, "alive": False, "refused": True}
    after = sup["web"].pid
    assert after is not None
    assert after != before
    assert await _get(_port(spec)) == (200, str(after))


async def test_frozen_window_thaws_the_service_even_when_the_body_raises(
    sup: Supervisor,
) -> None:
    """sup.frozen() freezes for the body and thaws the same process though the body raised."""
    spec = _http()
    pid = (await sup.start(spec)).pid

    async def stopped() -> bool:
        return _status(pid) == psutil.STATUS_STOPPED

    async def window() -> None:
        async with sup.frozen("web"):
            await eventually(stopped, within_s=2, what="child stopped by SIGSTOP")
            raise _BodyError

    with pytest.raises(_BodyError):
        await window()
    assert not sup["web"].frozen
    assert _status(pid) != psutil.STATUS_STOPPED
    async with asyncio.timeout(5 * TIME_UNIT):
        assert await _get(_port(spec)) == (200, str(pid))


# ---------------------------------------------------------------------- no orphans
@pytest.mark.parametrize("leave_by", ["return", "exception"])
async def test_leaving_the_supervisor_stops_every_child(tmp_path: Path, leave_by: str) -> None:
    """Leaving ``async with`` (normally or by an exception) ends every child and grandchild."""
    state_dir = tmp_path / "state"
    pids: list[int] = []
    with contextlib.suppress(_BodyError):
        async with Supervisor(tmp_path / "run", state_dir=state_dir) as sup:
            pids.append((await sup.start(_http("web", "--grandchild"))).pid)
            pids.append(_pid_in(sup["web"].output_tail(), "grandchild"))
            tcp = _spec("tcp", "tcp", port=free_port(), ready=TcpProbe())
            pids.append((await sup.start(tcp)).pid)
            assert list((state_dir / "runs").glob("*.json")), "no run record while running"
            if leave_by == "exception":
                raise _BodyError
    assert len(pids) == 3, "the body did not run to its end"
    assert [pid for pid in pids if not pid_gone(pid)] == []
    assert list((state_dir / "runs").glob("*.json")) == [], "the run record was left behind"


async def _read_child_pid(runner: asyncio.subprocess.Process) -> int:
    assert runner.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(30 * TIME_UNIT):
        while line := (await runner.stdout.readline()).decode():
            seen.append(line)
            if line.startswith("child pid "):
                return int(line.split()[-1])
    pytest.fail(f"the runner ended without starting its child:\n{''.join(seen)}")


async def test_children_die_with_a_sigkilled_runner(tmp_path: Path) -> None:
    """A runner killed by SIGKILL takes its services with it (parent-death signal)."""
    state_dir = tmp_path / "runner-state"
    runner = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROGRAM),
        "runner",
        "--run-dir",
        str(tmp_path / "runner-run"),
        "--port",
        str(free_port()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "AUTHDRILL_STATE_DIR": str(state_dir)},
    )
    child = 0
    try:
        child = await _read_child_pid(runner)
        assert not pid_gone(child)
        runner.kill()
        assert await runner.wait() == -signal.SIGKILL

        async def child_gone() -> bool:
            # Gone from the process table, not merely a zombie: init must have reaped it,
            # so the reaper below cannot mistake it for a live leftover.
            return not psutil.pid_exists(child)

        await eventually(child_gone, within_s=5, what=f"child {child} of the killed runner gone")
        # The kernel did it: the record the runner could not delete is still there,
        # and the next supervisor finds nothing left to reap.
        assert len(list((state_dir / "runs").glob("*.json"))) == 1
        async with Supervisor(tmp_path / "run", state_dir=state_dir) as sup:
            assert sup.reaped == []
        assert list((state_dir / "runs").glob("*.json")) == []
    finally:
        if runner.returncode is None:
            runner.kill()
            await runner.wait()
        if child and not pid_gone(child):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signal.SIGKILL)


def _write_run_record(state_dir: Path, run_id: str, *, victim: subprocess.Popen[bytes]) -> Path:
    """A run record as a runner writes it, owned by a process that has already exited."""
    owner = subprocess.Popen(["sleep", "60"])  # noqa: S607 - a stand-in for a dead runner
    owner_time = psutil.Process(owner.pid).create_time()
    owner.kill()
    owner.wait()
    path = state_dir / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    child = {
        "name": "orphan",
        "pid": victim.pid,
        "pgid": victim.pid,
        "create_time": psutil.Process(victim.pid).create_time(),
    }
    document = {"owner_pid": owner.pid, "owner_create_time": owner_time, "children": [child]}
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own session, as a service left behind by a crashed run would be."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)  # noqa: S607
    yield proc
    proc.kill()
    proc.wait()


async def test_reaper_kills_what_a_dead_run_left_behind(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """A new supervisor kills the recorded children of a run whose owner is dead."""
    state_dir = tmp_path / "state"
    record = _write_run_record(state_dir, "crashed-run", victim=sleeper)
    async with Supervisor(tmp_path / "run", state_dir=state_dir) as sup:
        assert len(sup.reaped) == 1
        assert f"orphan (pid {sleeper.pid}) left by run crashed-run" in sup.reaped[0]
        assert pid_gone(sleeper.pid)
    assert not record.exists()


async def test_reaper_spares_a_process_that_reused_a_recorded_pid(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """A recorded pid now held by another process (other start time) is not killed."""
    state_dir = tmp_path / "state"
    record = _write_run_record(state_dir, "crashed-run", victim=sleeper)
    document = json.loads(record.read_text())
    document["children"][0]["create_time"] -= 1000.0  # the recorded one started earlier
    record.write_text(json.dumps(document))
    async with Supervisor(tmp_path / "run", state_dir=state_dir) as sup:
        assert sup.reaped == []
    assert sleeper.poll() is None, "a process that merely reused the pid was killed"
    assert not record.exists()


# ---------------------------------------------------------------------- logs
async def test_log_file_keeps_the_output_of_every_start(sup: Supervisor) -> None:
    """run_dir/logs/<name>.log holds each start's output; a restart appends to it."""
    spec = _http()
    first = (await sup.start(spec)).pid
    second = (await sup["web"].restart()).pid
    log_path = sup.run_dir / "logs" / "web.log"
    assert sup["web"].log_path == log_path
    text = log_path.read_text()
    assert text.count(START_MARKER) == 2
    first_run, second_run = text.split(START_MARKER)[1:]
    assert f"serving pid {first}" in first_run
    assert "got SIGTERM" in first_run
    assert f"serving pid {second}" in second_run
    assert f"serving pid {first}" not in sup["web"].output_tail(), "tail spans an older start"
