"""``authdrill run`` and friends as a user runs them: a subprocess, exit codes, files, signals."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from authdrill.process._gone import alive
from authdrill.target import load_target
from tests.support import (
    AUTH_OUTAGE_PHASES,
    REQUIRED_MEASUREMENTS,
    TIME_UNIT,
    processes_of,
    reference_with_backend_command,
)

DRILL_TIMEOUT_S = 90 * TIME_UNIT  # a whole drill; it normally takes ~5 s
QUICK_TIMEOUT_S = 30 * TIME_UNIT  # a command that starts no service, or fails at setup
LONG_DRILL = ("run", "--setting", "persist_rounds=1000")  # persist takes far longer than a signal


def authdrill(*args: str, cwd: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run ``python -m authdrill ARGS`` in ``cwd`` and capture its output."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "authdrill", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def flat(text: str) -> str:
    """``text`` with every run of whitespace as one space (the console wraps long lines)."""
    return " ".join(text.split())


# ---------------------------------------------------------------------- exit codes and files


def test_passing_run_exits_0_and_writes_json_and_junit(tmp_path: Path) -> None:
    """A passing drill exits 0; the JSON and JUnit reports parse and agree with each other."""
    result = authdrill(
        "run", "--json", "r.json", "--junit", "r.xml", cwd=tmp_path, timeout_s=DRILL_TIMEOUT_S
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout

    document = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert document["drill"] == "auth-outage"
    assert document["passed"] is True
    assert isinstance(document["wall_s"], float)
    assert document["wall_s"] > 0
    assert [p["name"] for p in document["phases"]] == AUTH_OUTAGE_PHASES
    checks = 0
    for phase in document["phases"]:
        assert phase["passed"] is True
        assert isinstance(phase["duration_s"], int | float)
        for check in phase["checks"]:
            assert check.keys() == {"name", "passed", "expected", "observed"}
            assert check["passed"] is True
            checks += 1
    assert document["measurements"].keys() >= set(REQUIRED_MEASUREMENTS)
    assert all(document["measurements"][name] is not None for name in REQUIRED_MEASUREMENTS)

    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == checks
    assert suite.get("tests") == str(checks)
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
    assert list((tmp_path / ".authdrill" / "runs").iterdir()), "the run directory is missing"


def test_failing_run_exits_1_and_names_the_failing_phase(tmp_path: Path) -> None:
    """A broken target fails with exit 1 and the summary names the phase that failed."""
    result = authdrill(
        "run",
        "--target",
        "builtin:broken-ready-needs-auth",
        "--quiet",
        "--threshold",
        "breaker_close_within_s=3",
        cwd=tmp_path,
        timeout_s=DRILL_TIMEOUT_S,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert verdict, result.stdout
    assert "phase breaker" in flat(verdict[0])
    assert "backend stays ready" in result.stdout
    assert "4/8 persist" not in result.stdout, "--quiet still printed live progress"


def test_bad_toml_exits_2_naming_the_file(tmp_path: Path) -> None:
    """A target file that is not TOML is a usage error naming the file; no run starts."""
    (tmp_path / "broken.toml").write_text('name = "x"\nauth = [\n', encoding="utf-8")
    result = authdrill("run", "--target", "broken.toml", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "broken.toml" in flat(result.stderr)
    assert "TOML" in result.stderr
    assert not (tmp_path / ".authdrill").exists()


def test_unknown_key_exits_2_naming_the_file_and_the_key(tmp_path: Path) -> None:
    """An unknown key in a target file is a usage error naming file and key."""
    text = reference_with_backend_command('["{python}", "-m", "authdrill.stack.backend"]')
    (tmp_path / "typo.toml").write_text(
        text.replace("[services.auth]\n", "[services.auth]\nstart_timout = 5\n", 1),
        encoding="utf-8",
    )
    result = authdrill("run", "--target", "typo.toml", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert result.returncode == 2, result.stdout + result.stderr
    stderr = flat(result.stderr)
    assert "typo.toml" in stderr
    assert "start_timout" in stderr
    assert not (tmp_path / ".authdrill").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("run", "no-such-drill"), ["no-such-drill", "auth-outage", "isolation"]),
        (("run", "--threshold", "nope=1"), ["nope", "min_outage_session_success"]),
        (("run", "--setting", "users=many"), ["users", "int"]),
        (("run", "--target", "builtin:nothing"), ["nothing", "reference"]),
    ],
)
def test_bad_usage_exits_2_and_says_why(
    args: tuple[str, ...], words: list[str], tmp_path: Path
) -> None:
    """Unknown drills, thresholds, settings and built-ins are usage errors saying what is wrong."""
    result = authdrill(*args, cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert result.returncode == 2, result.stdout + result.stderr
    stderr = flat(result.stderr)
    for word in words:
        assert word in stderr, stderr
    assert not (tmp_path / ".authdrill").exists()


def test_a_service_that_exits_at_start_exits_2(tmp_path: Path) -> None:
    """A target whose backend exits at once is a setup error: exit 2, with its output shown."""
    (tmp_path / "exits.toml").write_text(
        reference_with_backend_command(
            """["{python}", "-c", "import sys; print('boom'); sys.exit(3)"]"""
        ),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    result = authdrill(
        "run", "--target", "exits.toml", "--run-dir", str(run_dir), cwd=tmp_path,
        timeout_s=QUICK_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    output = flat(result.stdout + result.stderr)
    assert "backend" in output
    assert "exit code 3" in output
    assert "boom" in output
    assert processes_of(run_dir) == []


# ---------------------------------------------------------------------- drills and init


def test_drills_lists_both_drills_and_every_phase(tmp_path: Path) -> None:
    """`authdrill drills` names auth-outage and isolation and the 8 phases in order."""
    result = authdrill("drills", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("auth-outage:") for line in lines)
    assert any(line.startswith("isolation:") for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("auth-outage:"))
    listed = [line.split()[1] for line in lines[start + 1 : start + 9]]
    assert listed == AUTH_OUTAGE_PHASES


def test_init_writes_a_loadable_target_and_never_overwrites_silently(tmp_path: Path) -> None:
    """init writes a target that loads; a second init without --force exits 2, file untouched."""
    first = authdrill("init", "x.toml", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "x.toml"
    target = load_target(path)
    assert target.auth in target.services
    assert target.backend in target.services

    with path.open("a", encoding="utf-8") as handle:
        handle.write("# my own edits\n")
    edited = path.read_bytes()
    second = authdrill("init", "x.toml", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert second.returncode == 2
    assert "--force" in second.stderr
    assert path.read_bytes() == edited

    forced = authdrill("init", "x.toml", "--force", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S)
    assert forced.returncode == 0, forced.stderr
    assert b"# my own edits" not in path.read_bytes()


# ---------------------------------------------------------------------- signals


@contextmanager
def running_drill(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, queue.Queue[str]]]:
    """A long `authdrill run` in the background; its stdout lines arrive on a queue."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "authdrill", *LONG_DRILL, "--run-dir", str(run_dir)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield process, run_dir, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=QUICK_TIMEOUT_S)
        reader.join(timeout=QUICK_TIMEOUT_S)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_for_line(lines: queue.Queue[str], pattern: str, *, within_s: float) -> list[str]:
    """Read lines until one matches ``pattern``; fail after ``within_s`` (monotonic)."""
    deadline = time.monotonic() + within_s
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if re.search(pattern, line):
            return seen
    pytest.fail(f"no line matching {pattern!r} within {within_s:g} s; saw:\n{''.join(seen)}")


def wait_until_gone(processes: list[psutil.Process], *, within_s: float) -> list[psutil.Process]:
    """Poll until every process has exited (or is a zombie); the ones still alive at the end."""
    deadline = time.monotonic() + within_s
    remaining = processes
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if alive(p)]
        if remaining:
            psutil.wait_procs(remaining, timeout=0.05)  # a polling period, not a settle time
    return [p for p in remaining if alive(p)]


def test_ctrl_c_exits_130_and_leaves_no_process(tmp_path: Path) -> None:
    """SIGINT mid-persist: cleanup runs, exit code 130, and no service of the run survives."""
    with running_drill(tmp_path) as (process, run_dir, lines):
        wait_for_line(lines, r"\d/8 persist", within_s=60 * TIME_UNIT)
        services = processes_of(run_dir)
        assert len(services) >= 1, "the backend should be running during persist"
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30 * TIME_UNIT)
        stderr = process.stderr.read() if process.stderr else ""
    assert code == 130, stderr
    assert "interrupted" in stderr
    assert processes_of(run_dir) == []
    assert wait_until_gone(services, within_s=0) == []


def test_sigkilled_runner_takes_its_services_with_it(tmp_path: Path) -> None:
    """SIGKILL to the runner mid-drill: its services die too (parent-death signal)."""
    with running_drill(tmp_path) as (process, run_dir, lines):
        wait_for_line(lines, r"\d/8 persist", within_s=60 * TIME_UNIT)
        services = processes_of(run_dir)
        assert len(services) >= 1, "the backend should be running during persist"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10 * TIME_UNIT) == -signal.SIGKILL
        survivors = wait_until_gone(services, within_s=5 * TIME_UNIT)
    assert survivors == [], [p.info["cmdline"] for p in survivors]
    assert processes_of(run_dir) == []


# ---------------------------------------------------------------------- report paths


def test_report_under_a_file_exits_2_before_anything_starts(tmp_path: Path) -> None:
    """A report whose parent directory is missing and cannot be made (a file is in the way)
    is a usage error naming the option, the path and the problem; nothing is started."""
    (tmp_path / "notes.txt").write_text("not a directory\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    result = authdrill(
        "run", "--json", "notes.txt/reports/r.json", "--run-dir", str(run_dir),
        cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    stderr = flat(result.stderr)
    assert "--json" in stderr
    assert "notes.txt/reports/r.json" in stderr
    assert "notes.txt is not a directory" in stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "", "the drill started"
    assert not run_dir.exists()
    assert processes_of(run_dir) == []
    assert not (tmp_path / ".authdrill").exists()


def test_report_path_that_is_a_directory_exits_2_before_anything_starts(tmp_path: Path) -> None:
    """A report path that is an existing directory is a usage error naming option and path."""
    (tmp_path / "reports").mkdir()
    run_dir = tmp_path / "run"
    result = authdrill(
        "run", "--json", "r.json", "--junit", "reports", "--run-dir", str(run_dir),
        cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    stderr = flat(result.stderr)
    assert "--junit: cannot write a report to reports: it is a directory" in stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "", "the drill started"
    assert not run_dir.exists()
    assert not (tmp_path / "r.json").exists()
    assert not (tmp_path / ".authdrill").exists()


def test_two_reports_to_one_file_exit_2_before_anything_starts(tmp_path: Path) -> None:
    """Two report options naming the same file would overwrite one report: refused up front."""
    result = authdrill(
        "run", "--json", "r.out", "--junit", "./r.out", cwd=tmp_path, timeout_s=QUICK_TIMEOUT_S
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--junit: cannot write a report to r.out: --json writes the same file" in flat(
        result.stderr
    )
    assert not (tmp_path / ".authdrill").exists()


def test_report_that_cannot_be_written_after_the_drill_keeps_the_results(tmp_path: Path) -> None:
    """A report path that passes the start-up check but cannot be written at the end (here
    the drill itself makes it a directory: <run>/logs) is exit 2 naming the file and the
    OS error; the other reports are still written, the verdict and run directory are
    stated, and the JSON report is saved in the run directory instead."""
    run_dir = tmp_path / "run"
    result = authdrill(
        "run", "--json", "run/logs", "--junit", "r.xml", "--run-dir", str(run_dir), "--quiet",
        cwd=tmp_path, timeout_s=DRILL_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    stderr = flat(result.stderr)
    assert "--json: could not write run/logs:" in stderr
    assert "Is a directory" in stderr
    assert "Traceback" not in result.stderr
    assert "the drill passed (exit code 0 but for the report error)" in stderr
    assert f"run directory: {run_dir}" in stderr
    assert f"the JSON report is in {run_dir / 'report.json'}" in stderr
    document = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert document["passed"] is True
    assert [p["name"] for p in document["phases"]] == AUTH_OUTAGE_PHASES
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    assert suite.get("failures") == "0"
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".logs")], "temp file left"
    assert processes_of(run_dir) == []
