"""``python -m authdrill.process._launch PPID -- ARGV...``: exec ARGV, dying with its parent.

On Linux the launcher asks the kernel to SIGKILL it when its parent dies
(``PR_SET_PDEATHSIG``), then replaces itself with the service (``execvp``); the request
survives the exec. So a drill runner killed with SIGKILL takes its services with it.
If the parent is already gone when the launcher starts, it exits instead of running.
Elsewhere it simply execs; the reaper cleans up after crashed runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    """Exec ``argv`` after ``--``; ``argv[0]`` is the expected parent pid."""
    if len(argv) < 3 or argv[1] != "--":  # noqa: PLR2004 - PPID -- CMD
        print("usage: python -m authdrill.process._launch PPID -- CMD [ARGS...]", file=sys.stderr)  # noqa: T201
        return 2
    expected_parent = int(argv[0])
    command = argv[2:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            print("authdrill launcher: prctl(PR_SET_PDEATHSIG) failed", file=sys.stderr)  # noqa: T201
        if os.getppid() != expected_parent:  # parent died before prctl took effect
            return 1
    try:
        os.execvp(command[0], command)  # noqa: S606 - running the target's own command is the job
    except OSError as exc:
        print(f"authdrill launcher: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
