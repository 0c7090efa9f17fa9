#!/usr/bin/env python3
"""Set up and run authdrill on a machine that has only Python 3.11+.

    python3 tasks.py drill    run the auth-outage drill against the built-in stack
    python3 tasks.py up       start the reference stack until Ctrl-C
    python3 tasks.py test     run the test suite (pytest, one worker per core; extra args passed on)
    python3 tasks.py lint     ruff (lint + format check) and mypy --strict on src/

Each command first makes sure ``.venv`` exists and holds authdrill (with the
development tools for ``test``/``lint``), reinstalling only when ``pyproject.toml``
changed. Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
MIN_PYTHON = (3, 11)


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _run(*argv: str | Path) -> None:
    result = subprocess.run([str(a) for a in argv], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_env(*, dev: bool) -> Path:
    """Create ``.venv`` and install authdrill (and dev tools) if not already current."""
    if sys.version_info < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        sys.exit(f"authdrill needs Python {wanted}+; this is {sys.version.split()[0]}")
    python = _venv_python()
    if not python.exists():
        print("tasks: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    extras = ".[dev]" if dev else "."
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".authdrill-installed"
    installed = stamp.read_text().split() if stamp.exists() else []
    if wanted not in installed:
        print(f"tasks: installing authdrill ({extras}) into .venv", file=sys.stderr)
        _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(python, "-m", "pip", "install", "--quiet", "--editable", extras)
        # a dev install satisfies a plain one too
        keep = [h for h in installed if h != wanted]
        if dev:
            plain = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + b".").hexdigest()
            keep.append(plain)
        stamp.write_text(" ".join([*keep, wanted]))
    return python


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "drill":
        python = ensure_env(dev=False)
        return subprocess.call([str(python), "-m", "authdrill", "run", *rest], cwd=ROOT)
    if command == "up":
        python = ensure_env(dev=False)
        return subprocess.call([str(python), "-m", "authdrill", "up", *rest], cwd=ROOT)
    if command == "test":
        python = ensure_env(dev=True)
        # the suite mostly waits on real processes: one worker per core, a file per worker
        # (files share their stacks); `-n 0` in the arguments runs it serially instead
        parallel = (
            []
            if any(a == "-n" or a.startswith("-n") for a in rest)
            else ["-n", "auto", "--dist", "loadfile"]
        )
        return subprocess.call([str(python), "-m", "pytest", *parallel, *rest], cwd=ROOT)
    if command == "lint":
        python = ensure_env(dev=True)
        _run(python, "-m", "ruff", "check", "src", "tests", "benchmarks", "tasks.py")
        _run(python, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "tasks.py")
        _run(python, "-m", "mypy")
        return 0
    print(__doc__)
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
