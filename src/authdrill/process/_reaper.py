"""A record of every process a run started, and cleanup after runs that crashed.

Each supervisor writes ``<state_dir>/runs/<run_id>.json``: its own pid and start time,
and for each live child the pid, process group and start time. The file is rewritten
when a child starts or stops and deleted when the run ends cleanly. A run that was
SIGKILLed cannot delete it; the next supervisor (or ``authdrill reap``) finds the
record, sees its owner is gone, and kills what is left. Start times guard against pid
reuse: a process is only killed if it is the very one recorded.

``state_dir`` is ``$AUTHDRILL_STATE_DIR``, else ``$XDG_STATE_HOME/authdrill``, else
``~/.local/state/authdrill``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from authdrill.process._gone import alive, wait_gone

__all__ = ["ChildRecord", "RunRecord", "default_state_dir", "reap_stale_runs"]

log = logging.getLogger("authdrill.reaper")
_CREATE_TIME_TOLERANCE_S = 0.05


def default_state_dir() -> Path:
    """Where run records live (see the module docstring)."""
    explicit = os.environ.get("AUTHDRILL_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "authdrill"


def _create_time(pid: int) -> float | None:
    """The start time of a live (non-zombie) process ``pid``, else ``None``."""
    try:
        process = psutil.Process(pid)
        return process.create_time() if alive(process) else None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


@dataclass(frozen=True, slots=True)
class ChildRecord:
    """One started process."""

    name: str
    pid: int
    pgid: int
    create_time: float


class RunRecord:
    """The on-disk record of one run's live children."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.path = state_dir / "runs" / f"{run_id}.json"
        self._owner_pid = os.getpid()
        self._owner_time = _create_time(self._owner_pid) or 0.0
        self._children: dict[str, ChildRecord] = {}

    def add(self, child: ChildRecord) -> None:
        """Record a started child (replacing an earlier one of the same name)."""
        self._children[child.name] = child
        self._write()

    def remove(self, name: str) -> None:
        """Forget a child that has been stopped and reaped."""
        if self._children.pop(name, None) is not None:
            self._write()

    def close(self) -> None:
        """The run ended cleanly: delete the record."""
        self._children.clear()
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "owner_pid": self._owner_pid,
            "owner_create_time": self._owner_time,
            "children": [asdict(c) for c in self._children.values()],
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".run-")
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
        Path(tmp).replace(self.path)


def _is_alive_same(pid: int, create_time: float) -> bool:
    actual = _create_time(pid)
    return actual is not None and abs(actual - create_time) < _CREATE_TIME_TOLERANCE_S


def _kill_child(child: ChildRecord) -> bool:
    if not _is_alive_same(child.pid, child.create_time):
        return False
    try:
        proc = psutil.Process(child.pid)
        victims = [*proc.children(recursive=True), proc]
    except psutil.Error:
        return False
    if os.name != "nt":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pgid, signal.SIGKILL)
    for victim in victims:
        with contextlib.suppress(psutil.Error):
            victim.kill()
    wait_gone(victims, timeout_s=5.0)
    return True


def reap_stale_runs(state_dir: Path) -> list[str]:
    """Kill the leftovers of runs whose owner died; returns what was killed."""
    killed: list[str] = []
    runs = state_dir / "runs"
    if not runs.is_dir():
        return killed
    for path in sorted(runs.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            owner_pid = int(document["owner_pid"])
            owner_time = float(document["owner_create_time"])
            children = [ChildRecord(**c) for c in document["children"]]
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("removing unreadable run record %s", path)
            path.unlink(missing_ok=True)
            continue
        if _is_alive_same(owner_pid, owner_time):
            continue  # that run is still going
        for child in children:
            if _kill_child(child):
                killed.append(f"{child.name} (pid {child.pid}) left by run {path.stem}")
                log.warning(
                    "killed %s (pid %d) left behind by crashed run %s",
                    child.name,
                    child.pid,
                    path.stem,
                )
        path.unlink(missing_ok=True)
    return killed
