"""How to run the reference stack as processes: one :class:`ServiceSpec` per service."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from authdrill.process import HttpProbe, ServiceSpec

__all__ = ["auth_spec", "backend_spec"]


def auth_spec(
    *,
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    database_url: str | None = None,
    extra_args: Sequence[str] = (),
    name: str = "auth",
    start_timeout_s: float = 30.0,
) -> ServiceSpec:
    """The auth service listening on ``host:port`` with its files in ``data_dir``."""
    argv = [sys.executable, "-m", "authdrill.stack.auth", "--host", host, "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    argv += ["--trusted-proxy", "127.0.0.1"]  # the backend's login proxy, on loopback
    if database_url:
        argv += ["--database-url", database_url]
    return ServiceSpec(
        name=name,
        argv=(*argv, *extra_args),
        host=host,
        port=port,
        ready=HttpProbe("/health/ready"),
        start_timeout_s=start_timeout_s,
    )


def backend_spec(
    *,
    port: int,
    data_dir: Path,
    auth_url: str,
    host: str = "127.0.0.1",
    database_url: str | None = None,
    extra_args: Sequence[str] = (),
    name: str = "backend",
    start_timeout_s: float = 30.0,
) -> ServiceSpec:
    """The backend listening on ``host:port``, talking to auth at ``auth_url``."""
    argv = [sys.executable, "-m", "authdrill.stack.backend", "--host", host, "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--auth-url", auth_url]
    if database_url:
        argv += ["--database-url", database_url]
    return ServiceSpec(
        name=name,
        argv=(*argv, *extra_args),
        host=host,
        port=port,
        ready=HttpProbe("/health/ready"),
        start_timeout_s=start_timeout_s,
    )
