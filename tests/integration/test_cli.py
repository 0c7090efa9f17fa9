"""The ``authdrill`` command line, run as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from authdrill import __version__
from authdrill.process import free_port
from authdrill.stack.auth.keyring import load_or_create, rotate
from tests.support import TIME_UNIT, pid_gone

EXIT_USAGE = 2
_SERVICE_LINE = re.compile(r"^(?P<name>auth|backend)\s+(?P<url>http://\S+)\s+pid (?P<pid>\d+)\b")


def _environ(**extra: str) -> dict[str, str]:
    """Our environment without any AUTHDRILL_* setting that could change the outcome."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("AUTHDRILL_")}
    return {**kept, **extra}


def _authdrill(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and package
        [sys.executable, "-m", "authdrill", *args],
        capture_output=True,
        text=True,
        timeout=60 * TIME_UNIT,
        cwd=cwd,
        env=env or _environ(AUTHDRILL_STATE_DIR=str(cwd / "state")),
        check=False,
    )


# ---------------------------------------------------------------------- basics
def test_version_prints_the_package_version(tmp_path: Path) -> None:
    """``authdrill --version`` prints the installed version and exits 0."""
    result = _authdrill("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"authdrill {__version__}"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    """``authdrill --help`` exits 0 and lists the commands."""
    result = _authdrill("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: authdrill")
    for command in ("up", "serve", "keys", "reap"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown command exits 2 and says which word it did not know."""
    result = _authdrill("frobnicate", cwd=tmp_path)
    assert result.returncode == EXIT_USAGE
    assert "invalid choice: 'frobnicate'" in result.stderr


# ---------------------------------------------------------------------- keys
def _listed(stdout: str) -> dict[str, str]:
    """``{kid: state}`` from the output of a ``keys`` action."""
    states: dict[str, str] = {}
    for line in stdout.splitlines():
        state, alg, kid, *_ = line.split()
        assert alg == "ES256", line
        states[kid] = state
    return states


def _keys(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    action, *rest = args
    return _authdrill("keys", action, "--data-dir", str(data_dir), *rest, cwd=data_dir.parent)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An auth data directory with a freshly created keyring (current + next)."""
    path = tmp_path / "auth"
    load_or_create(path / "keys", alg="ES256")
    return path


def _states(data_dir: Path) -> dict[str, str]:
    """The keyring's ``{kid: state}`` as stored (read without the CLI)."""
    return {r.kid: r.state for r in load_or_create(data_dir / "keys", alg="ES256").records}


def test_keys_list_shows_every_key_with_its_state(data_dir: Path) -> None:
    """``keys list`` prints each key of the keyring with its state."""
    result = _keys(data_dir, "list")
    assert result.returncode == 0, result.stderr
    listed = _listed(result.stdout)
    assert listed == _states(data_dir)
    assert sorted(listed.values()) == ["current", "next"]


def test_keys_list_without_a_keyring_is_an_error(tmp_path: Path) -> None:
    """``keys list`` on a directory without a keyring exits 2 and creates nothing."""
    result = _keys(tmp_path / "empty", "list")
    assert result.returncode == EXIT_USAGE
    assert "no keyring" in result.stderr
    assert not (tmp_path / "empty").exists()


def test_keys_rotate_refuses_a_next_key_published_just_now(data_dir: Path) -> None:
    """Right after creation ``keys rotate`` refuses (exit 2, naming --force) and changes nothing."""
    before = (data_dir / "keys" / "keyring.json").read_bytes()
    result = _keys(data_dir, "rotate")
    assert result.returncode == EXIT_USAGE
    assert "--force" in result.stderr
    assert (data_dir / "keys" / "keyring.json").read_bytes() == before


def test_keys_rotate_with_force_retires_the_current_key(data_dir: Path) -> None:
    """``keys rotate --force``: current retires, next signs, and a new next is published."""
    before = {state: kid for kid, state in _states(data_dir).items()}
    result = _keys(data_dir, "rotate", "--force")
    assert result.returncode == 0, result.stderr
    listed = _listed(result.stdout)
    assert listed == _states(data_dir)
    assert listed[before["current"]] == "retired"
    assert listed[before["next"]] == "current"
    fresh = set(listed) - set(before.values())
    assert len(fresh) == 1
    assert listed[fresh.pop()] == "next"


def test_keys_remove_refuses_the_current_key(data_dir: Path) -> None:
    """``keys remove`` of the signing key exits 2 and keeps the key."""
    states = _states(data_dir)
    current = next(kid for kid, state in states.items() if state == "current")
    result = _keys(data_dir, "remove", current)
    assert result.returncode == EXIT_USAGE
    assert "current signing key" in result.stderr
    assert (data_dir / "keys" / f"{current}.pem").exists()
    assert _states(data_dir) == states


def test_keys_remove_deletes_a_retired_key(data_dir: Path) -> None:
    """``keys remove -- KID`` of a retired key unpublishes it and deletes its file."""
    rotate(data_dir / "keys", alg="ES256", retire_after_s=3600, min_published_s=0)
    retired = next(kid for kid, state in _states(data_dir).items() if state == "retired")
    result = _keys(data_dir, "remove", "--", retired)  # the form for a kid starting with "-"
    assert result.returncode == 0, result.stderr
    assert retired not in _listed(result.stdout)
    assert retired not in _states(data_dir)
    assert not (data_dir / "keys" / f"{retired}.pem").exists()


# ---------------------------------------------------------------------- up
async def _read_services(up: asyncio.subprocess.Process) -> dict[str, tuple[str, int]]:
    """Read ``up``'s stdout until it says how to stop: ``{name: (url, pid)}``."""
    assert up.stdout is not None
    services: dict[str, tuple[str, int]] = {}
    seen: list[str] = []
    async with asyncio.timeout(90 * TIME_UNIT):
        while line := (await up.stdout.readline()).decode():
            seen.append(line)
            if match := _SERVICE_LINE.match(line):
                services[match["name"]] = (match["url"], int(match["pid"]))
            if line.startswith("Ctrl-C"):
                return services
    pytest.fail(f"'authdrill up' ended before the stack was up:\n{''.join(seen)}")


async def test_up_runs_the_stack_until_sigint(tmp_path: Path) -> None:
    """``authdrill up`` prints both URLs, serves, and on SIGINT stops both services, exit 0."""
    up = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "authdrill",
        "up",
        "--run-dir",
        str(tmp_path / "run"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=_environ(AUTHDRILL_STATE_DIR=str(tmp_path / "state")),
    )
    try:
        services = await _read_services(up)
        assert set(services) == {"auth", "backend"}
        async with httpx.AsyncClient(trust_env=False, timeout=10 * TIME_UNIT) as http:
            for url, _ in services.values():
                ready = await http.get(f"{url}/health/ready")
                assert ready.status_code == 200, ready.text

        up.send_signal(signal.SIGINT)
        async with asyncio.timeout(30 * TIME_UNIT):
            _, stderr = await up.communicate()
        assert up.returncode == 0, stderr.decode()
        for name, (url, pid) in services.items():
            assert pid_gone(pid), f"{name} (pid {pid}) outlived 'authdrill up'"
            port = int(url.rsplit(":", 1)[1])
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port)
    finally:
        if up.returncode is None:
            up.kill()  # its services die with it (parent-death signal)
            await up.wait()


def test_up_with_a_taken_port_is_refused(tmp_path: Path) -> None:
    """``authdrill up`` with auth's port taken exits 2 naming the address."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = _authdrill("up", "--run-dir", str(tmp_path / "run"), "--port", f"auth={port}",
                            cwd=tmp_path)  # fmt: skip
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert "address already in use" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------- reap
def test_reap_with_nothing_left_behind(tmp_path: Path) -> None:
    """``authdrill reap`` with an empty state directory says there is nothing to reap."""
    state = tmp_path / "state"
    state.mkdir()
    result = _authdrill("reap", cwd=tmp_path, env=_environ(AUTHDRILL_STATE_DIR=str(state)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nothing to reap"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own session, as a service left behind by a crashed run would be."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)  # noqa: S607
    yield proc
    proc.kill()
    proc.wait()


def _record_crashed_run(state_dir: Path, child: subprocess.Popen[bytes]) -> Path:
    """A run record naming ``child``, written by a runner that has since exited."""
    owner = subprocess.Popen(["sleep", "60"])  # noqa: S607 - a stand-in for a dead runner
    owner_time = psutil.Process(owner.pid).create_time()
    owner.kill()
    owner.wait()
    record = state_dir / "runs" / "crashed.json"
    record.parent.mkdir(parents=True)
    entry = {
        "name": "orphan",
        "pid": child.pid,
        "pgid": child.pid,
        "create_time": psutil.Process(child.pid).create_time(),
    }
    document = {"owner_pid": owner.pid, "owner_create_time": owner_time, "children": [entry]}
    record.write_text(json.dumps(document))
    return record


async def test_reap_kills_what_a_dead_run_left_behind(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """``authdrill reap`` kills a child recorded by a run whose owner is gone, and says so."""
    record = _record_crashed_run(tmp_path / "state", sleeper)
    reap = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "authdrill",
        "reap",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environ(AUTHDRILL_STATE_DIR=str(tmp_path / "state")),
    )
    # We are the sleeper's parent: reap it the moment it dies, as init would.
    code = await asyncio.to_thread(sleeper.wait, 30 * TIME_UNIT)
    async with asyncio.timeout(30 * TIME_UNIT):
        stdout, stderr = await reap.communicate()
    assert reap.returncode == 0, stderr.decode()
    assert code == -signal.SIGKILL
    assert f"killed orphan (pid {sleeper.pid}) left by run crashed" in stdout.decode()
    assert not record.exists()
