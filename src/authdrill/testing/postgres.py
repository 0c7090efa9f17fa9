"""A private, throw-away PostgreSQL cluster on a free port, for tests and drills.

``PostgresCluster`` runs ``initdb`` into a fresh directory, starts ``postgres`` on a
free loopback port (unix socket in the same directory, ``fsync`` off: it is
disposable), creates databases on request and removes everything on :meth:`stop`.
PostgreSQL refuses to run as root, so when we are root the server runs as ``nobody``.

Binaries are found on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from authdrill.errors import ServiceStartError
from authdrill.process import free_port

__all__ = ["PostgresCluster", "find_postgres_bin"]

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``createdb``, if any."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl") and shutil.which("createdb"):
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if all((candidate / tool).exists() for tool in ("initdb", "pg_ctl", "createdb")):
            return candidate
    return None


class PostgresCluster:
    """A disposable PostgreSQL server: :meth:`start`, :meth:`create_database`, :meth:`stop`."""

    def __init__(self, *, bin_dir: Path | None = None) -> None:
        self._bin = bin_dir or find_postgres_bin()
        self._base: Path | None = None
        self.port: int | None = None
        self._as_user: str | None = "nobody" if os.geteuid() == 0 else None

    @property
    def available(self) -> bool:
        """Whether the PostgreSQL server binaries were found."""
        return self._bin is not None

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        extra: dict[str, Any] = {"user": self._as_user} if self._as_user else {}
        return subprocess.run(  # noqa: S603 - our own arguments, no shell
            [str(self._bin / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            **extra,
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise ServiceStartError(
                "postgres",
                what,
                exit_code=result.returncode,
                output_tail=result.stdout + result.stderr,
            )

    def start(self) -> None:
        """Create and start the cluster.

        Raises:
            ServiceStartError: no binaries, or initdb/pg_ctl failed (with their output).
        """
        if self._bin is None:
            raise ServiceStartError(
                "postgres", "PostgreSQL server binaries (initdb, pg_ctl) not found"
            )
        self._base = Path(tempfile.mkdtemp(prefix="authdrill-pg-"))
        if self._as_user:
            shutil.chown(self._base, user=self._as_user)
        data = self._base / "data"
        self._check(
            self._run(
                "initdb",
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ),
            "initdb failed",
        )
        self.port = free_port()
        options = (
            f"-p {self.port} -k {self._base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._check(
            self._run(
                "pg_ctl",
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self._base / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ),
            "pg_ctl start failed",
        )

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its ``postgresql://`` URL.

        Raises:
            ValueError: ``name`` is not a plain lower-case identifier.
            ServiceStartError: createdb failed.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain database name")
        self._check(
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name),
            f"createdb {name} failed",
        )
        return self.url(name)

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this cluster (trust auth: no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        if self._base is None:
            return
        data = self._base / "data"
        if (data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._base, ignore_errors=True)
        self._base = None
