"""Capacity checks: open files per session, raising the soft limit, refusing too much load."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import psutil
import pytest

from authdrill.errors import ConfigError
from authdrill.load import ensure_capacity, files_needed
from tests.support import TIME_UNIT

resource = pytest.importorskip("resource", reason="open-file limits are POSIX only")


@pytest.fixture
def nofile_limit() -> Iterator[tuple[int, int]]:
    """The current (soft, hard) open-file limit, restored after the test."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        yield saved
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def open_fds() -> int:
    """How many file descriptors this process has open now."""
    return psutil.Process().num_fds()


def test_files_needed_grows_with_sessions() -> None:
    """More sessions need more files: at least one more per session, plus a fixed margin."""
    sizes = [0, 1, 10, 100, 1000]
    needed = [files_needed(n) for n in sizes]
    assert needed == sorted(set(needed)), needed
    assert files_needed(0) > 0  # the process's own files
    assert files_needed(1000) - files_needed(0) >= 1000


def test_an_impossible_load_is_refused_naming_users_and_the_limit() -> None:
    """Ten million sessions are refused with a ConfigError on ``--users`` that names the
    limit it hit (local ports or the hard open-file ulimit) and the number asked for."""
    with pytest.raises(ConfigError) as caught:
        ensure_capacity(10**7)
    error = caught.value
    assert error.key == "--users"
    assert "10000000 sessions" in error.problem
    assert "local ports" in error.problem or "ulimit" in error.problem, error.problem


def test_enough_files_already_leaves_the_limit_alone(nofile_limit: tuple[int, int]) -> None:
    """When the soft limit already covers the load, it is returned and not changed."""
    soft, hard = nofile_limit
    if soft < files_needed(1):
        pytest.skip(f"soft open-file limit {soft} is below what one session needs")
    assert ensure_capacity(1) == soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)


def test_a_low_soft_limit_is_raised_for_the_load(nofile_limit: tuple[int, int]) -> None:
    """With the soft limit lowered below what 200 sessions need, ensure_capacity raises it
    to at least that (the hard limit allowing), leaving the hard limit as it was."""
    _, hard = nofile_limit
    sessions = 200
    needed = files_needed(sessions)
    low = open_fds() + 32  # room for what the test itself opens meanwhile
    if low >= needed:
        pytest.skip(f"this process already has {low - 32} files open")
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"hard open-file limit {hard} is below {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    now_in_force = ensure_capacity(sessions)
    soft_after, hard_after = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert now_in_force >= needed
    assert soft_after >= needed
    assert soft_after == now_in_force
    assert hard_after == hard


def test_a_hard_limit_too_low_is_refused_with_what_to_change() -> None:
    """In a child whose hard open-file limit is 1024, a load needing more is refused with a
    ConfigError on ``--users`` that names ``ulimit -Hn`` and the limit."""
    sessions = 1000  # few enough local ports, too many files for 1024
    assert files_needed(sessions) > 1024
    program = textwrap.dedent(
        f"""
        import resource
        from authdrill.errors import ConfigError
        from authdrill.load import ensure_capacity
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 1024))
        try:
            ensure_capacity({sessions})
        except ConfigError as exc:
            print(exc.key)
            print(exc.problem)
        else:
            print("accepted")
        """
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and program
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=30 * TIME_UNIT,
        check=True,
    )
    key, _, problem = done.stdout.partition("\n")
    assert key == "--users", done.stdout
    assert "ulimit -Hn" in problem
    assert "1024" in problem
    assert f"{sessions} sessions" in problem
