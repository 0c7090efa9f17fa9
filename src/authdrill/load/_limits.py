"""Can this machine hold the requested load? Raise the open-file limit if needed.

Each session holds a WebSocket and shares pooled HTTP connections: about three file
descriptors per session in this process and one more in the backend (a child, which
inherits the raised limit). The soft limit is raised up to the hard limit; beyond that
the request is refused with a message saying what to change.
"""

from __future__ import annotations

from pathlib import Path

from authdrill.errors import ConfigError

__all__ = ["ensure_capacity", "files_needed"]

_PER_SESSION = 3
_MARGIN = 512


def files_needed(sessions: int) -> int:
    """Open files this process needs for ``sessions`` concurrent sessions."""
    return sessions * _PER_SESSION + _MARGIN


def _local_ports() -> int | None:
    try:
        low, high = (
            int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        )
    except (OSError, ValueError):
        return None
    return high - low + 1


def ensure_capacity(sessions: int) -> int:
    """Make room for ``sessions`` sessions; returns the open-file limit now in force.

    Raises:
        ConfigError: the hard open-file limit or the local port range is too small.
    """
    needed = files_needed(sessions)
    ports = _local_ports()
    if ports is not None and sessions * 2 > ports:
        raise ConfigError(
            "--users",
            f"{sessions} sessions need about {sessions * 2} local ports; this machine has {ports} "
            "(net.ipv4.ip_local_port_range)",
        )
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows: no such limit to raise
        return needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return needed if soft == resource.RLIM_INFINITY else soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            "--users",
            f"{sessions} sessions need about {needed} open files; this machine allows at most "
            f"{hard} (ulimit -Hn). Use fewer users or raise the hard limit.",
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed
