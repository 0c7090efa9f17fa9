"""The stack services refuse bad input at start: exit code 2 and a message naming the problem.

Each test runs ``python -m authdrill serve auth|backend ...`` as a real process.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from authdrill.errors import ServiceStartError
from authdrill.process import Supervisor, free_port
from authdrill.stack.auth.keyring import load_or_create
from authdrill.stack.reference import auth_spec
from tests.support import TIME_UNIT

EXIT_START_FAILED = 2
PASSWORD = "s3cret"


def _environ(**extra: str) -> dict[str, str]:
    """Our environment without any AUTHDRILL_* setting that could change the outcome."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUTHDRILL_") or k == "AUTHDRILL_STATE_DIR"
    }
    return {**kept, **extra}


def _serve(
    service: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``authdrill serve SERVICE ARGS`` to its end (it must not start serving)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and package
        [sys.executable, "-m", "authdrill", "serve", service, *args],
        capture_output=True,
        text=True,
        timeout=30 * TIME_UNIT,
        cwd=cwd,
        env=env or _environ(),
        check=False,
    )


def _refused(result: subprocess.CompletedProcess[str], service: str) -> str:
    """Assert ``result`` is a clean refusal to start; its stderr."""
    assert result.returncode == EXIT_START_FAILED, (
        f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    assert f"authdrill serve {service}: error:" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``directory`` with its content and permission bits."""
    return {
        path.name: (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
        for path in sorted(directory.iterdir())
    }


# ---------------------------------------------------------------------- port
@pytest.mark.parametrize("service", ["auth", "backend"])
def test_port_in_use_is_named(tmp_path: Path, service: str) -> None:
    """A port another socket listens on: exit 2, 'address already in use' and host:port."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = _serve(service, "--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
    stderr = _refused(result, service)
    assert "address already in use" in stderr
    assert f"127.0.0.1:{port}" in stderr


# ---------------------------------------------------------------------- flags
@pytest.mark.parametrize(
    ("service", "args", "named"),
    [
        ("auth", ("--port", "70000"), "--port"),
        ("auth", ("--port", "abc"), "--port"),
        ("auth", ("--access-ttl", "-1"), "--access-ttl"),
        ("backend", ("--auth-url", "ftp://x"), "--auth-url"),
        ("auth", ("--argon2-memory-kib", "1024"), "--argon2-memory-kib"),
    ],
    ids=["port-range", "port-text", "negative-ttl", "auth-url-scheme", "weak-argon2"],
)
def test_bad_flag_value_names_the_flag(
    tmp_path: Path, service: str, args: tuple[str, ...], named: str
) -> None:
    """A bad flag value: exit 2, and the message names the flag and quotes the value."""
    result = _serve(service, "--data-dir", str(tmp_path / "data"), *args, cwd=tmp_path)
    stderr = _refused(result, service)
    assert f"error: {named}" in stderr
    assert args[1] in stderr
    assert not (tmp_path / "data").exists(), "settings are checked before anything is created"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    """A bad value from the environment: exit 2, and the message names the variable."""
    result = _serve(
        "auth",
        "--data-dir",
        str(tmp_path),
        cwd=tmp_path,
        env=_environ(AUTHDRILL_AUTH_PORT="abc"),
    )
    stderr = _refused(result, "auth")
    assert "AUTHDRILL_AUTH_PORT" in stderr
    assert "'abc' is not a port number" in stderr


# ---------------------------------------------------------------------- database
@pytest.mark.parametrize("service", ["auth", "backend"])
def test_unreachable_database_is_named_without_its_password(tmp_path: Path, service: str) -> None:
    """An unreachable PostgreSQL: exit 2, the database named, its password nowhere."""
    db_port = free_port()
    url = f"postgresql://user:{PASSWORD}@127.0.0.1:{db_port}/db"
    result = _serve(
        service,
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--database-url",
        url,
        cwd=tmp_path,
    )
    stderr = _refused(result, service)
    assert f"user:***@127.0.0.1:{db_port}/db" in stderr
    assert "connection refused" in stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_unsupported_database_url_is_refused(tmp_path: Path) -> None:
    """A MySQL URL: exit 2, naming --database-url and the databases that are supported."""
    result = _serve(
        "auth",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--database-url",
        f"mysql://user:{PASSWORD}@127.0.0.1/db",
        cwd=tmp_path,
    )
    stderr = _refused(result, "auth")
    assert "--database-url" in stderr
    assert "unsupported database 'mysql'" in stderr
    assert "sqlite" in stderr
    assert "postgresql" in stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("service", ["auth", "backend"])
def test_sqlite_under_a_file_instead_of_a_directory_is_refused(
    tmp_path: Path, service: str
) -> None:
    """A SQLite database whose directory is a regular file: exit 2, naming the path."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("precious\n")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db_file = blocker / f"{service}.db"
    result = _serve(
        service,
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--database-url",
        f"sqlite:///{db_file}",
        cwd=tmp_path,
    )
    stderr = _refused(result, service)
    assert "database" in stderr
    assert str(blocker) in stderr
    assert blocker.read_text() == "precious\n", "the file in the way was touched"


@pytest.mark.parametrize("service", ["auth", "backend"])
def test_data_dir_that_is_a_file_is_refused(tmp_path: Path, service: str) -> None:
    """A --data-dir that is a regular file: exit 2, naming it, and the file is untouched."""
    data_dir = tmp_path / "data"
    data_dir.write_text("precious\n")
    result = _serve(service, "--port", "0", "--data-dir", str(data_dir), cwd=tmp_path)
    stderr = _refused(result, service)
    assert str(data_dir) in stderr
    assert data_dir.read_text() == "precious\n", "the file in the way was touched"


# ---------------------------------------------------------------------- key store
def _damage_pem(keys: Path, current: str) -> Path:
    path = keys / f"{current}.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    return path


def _open_pem(keys: Path, current: str) -> Path:
    path = keys / f"{current}.pem"
    path.chmod(0o644)
    return path


def _damage_manifest(keys: Path, _current: str) -> Path:
    path = keys / "keyring.json"
    path.write_text('{"version": 1, "keys": [')
    return path


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_damage_pem, "not a readable PEM private key"),
        (_open_pem, "permissions 644 are too open"),
        (_damage_manifest, "not a valid keyring manifest"),
    ],
    ids=["corrupt-pem", "mode-0644", "manifest-not-json"],
)
def test_damaged_key_store_is_named_and_left_as_it_was(
    tmp_path: Path, damage: Callable[[Path, str], Path], problem: str
) -> None:
    """A damaged keyring: exit 2, the message names the file, and no file is changed."""
    data_dir = tmp_path / "auth"
    keys = data_dir / "keys"
    ring = load_or_create(keys, alg="ES256")
    damaged = damage(keys, ring.current.kid)
    before = _snapshot(keys)

    result = _serve("auth", "--port", "0", "--data-dir", str(data_dir), cwd=tmp_path)

    stderr = _refused(result, "auth")
    assert f"key store {damaged}: {problem}" in stderr
    assert _snapshot(keys) == before, "the service changed or deleted key files"


# ---------------------------------------------------------------------- via the supervisor
async def test_supervisor_start_error_carries_exit_code_2_and_the_reason(tmp_path: Path) -> None:
    """Through the supervisor a bad database gives ServiceStartError with code 2 and the reason."""
    db_port = free_port()
    spec = auth_spec(
        port=free_port(),
        data_dir=tmp_path / "auth",
        database_url=f"postgresql://user:{PASSWORD}@127.0.0.1:{db_port}/db",
        start_timeout_s=30 * TIME_UNIT,
    )
    async with Supervisor(tmp_path / "run", state_dir=tmp_path / "state") as sup:
        with pytest.raises(ServiceStartError) as caught:
            await sup.start(spec)
    error = caught.value
    assert error.service == "auth"
    assert error.exit_code == EXIT_START_FAILED
    assert f"user:***@127.0.0.1:{db_port}/db: cannot open: connection refused" in (
        error.output_tail
    )
    assert PASSWORD not in str(error)
