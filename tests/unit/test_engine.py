"""The phase engine with tiny in-memory phases: statuses, skipping, cleanup, progress."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from authdrill.drill import Check, NullProgress, PhaseResult, PhaseSpec, run_phases
from authdrill.errors import ServiceStartError, SessionError
from tests.support import TIME_UNIT

PASS = Check(name="holds", passed=True, expected="yes", observed="yes")
FAIL = Check(name="does not hold", passed=False, expected="yes", observed="no")


@dataclass
class Env:
    """What the phases and the cleanup of a test touch."""

    ran: list[str] = field(default_factory=list)
    cleaned: int = 0
    events: list[tuple[str, str]] = field(default_factory=list)


class RecordingProgress:
    """Progress that writes down what it is told, in order."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def phase_started(self, name: str, title: str) -> None:
        self.env.events.append(("started", f"{name}/{title}"))

    def phase_finished(self, result: PhaseResult) -> None:
        self.env.events.append(("finished", f"{result.name}/{result.status}"))

    def note(self, message: str) -> None:
        self.env.events.append(("note", message))

    def watch(self, status: Callable[[], str] | None) -> None:
        self.env.events.append(("watch", "off" if status is None else status()))


def phase(
    name: str, checks: Sequence[Check] = (PASS,), *, critical: bool = False
) -> PhaseSpec[Env]:
    async def run(env: Env) -> list[Check]:
        env.ran.append(name)
        await asyncio.sleep(0)  # a real suspension point, as a phase doing I/O would have
        return list(checks)

    return PhaseSpec(name, f"{name} title", run, critical=critical)


def raising(name: str, error: BaseException, *, critical: bool = False) -> PhaseSpec[Env]:
    async def run(env: Env) -> list[Check]:
        env.ran.append(name)
        await asyncio.sleep(0)
        raise error

    return PhaseSpec(name, f"{name} title", run, critical=critical)


async def cleanup(env: Env) -> None:
    await asyncio.sleep(0)
    env.cleaned += 1


async def run(
    phases: Sequence[PhaseSpec[Env]],
    env: Env | None = None,
    *,
    on_phase: Callable[[str], None] = lambda _name: None,
    clock: Callable[[], float] | None = None,
    cleanup_fn: Callable[[Env], Awaitable[None]] = cleanup,
) -> tuple[Env, list[PhaseResult]]:
    env = env or Env()
    kwargs = {} if clock is None else {"clock": clock}
    results = await run_phases(
        phases,
        env,
        progress=RecordingProgress(env),
        cleanup=cleanup_fn,
        on_phase=on_phase,
        **kwargs,
    )
    return env, results


def statuses(results: Sequence[PhaseResult]) -> list[tuple[str, str]]:
    return [(r.name, r.status) for r in results]


async def test_phases_pass_fail_and_error() -> None:
    """Passing checks pass, a failing check fails, an AuthdrillError errors with its message."""
    env, results = await run(
        [
            phase("a"),
            phase("b", [PASS, FAIL]),
            raising("c", SessionError("no session could be established")),
        ]
    )
    assert statuses(results) == [("a", "passed"), ("b", "failed"), ("c", "error")]
    assert results[1].checks == (PASS, FAIL)
    assert results[2].checks == ()
    assert results[2].error is not None
    assert "no session could be established" in results[2].error
    assert env.cleaned == 1


async def test_an_error_skips_every_later_phase() -> None:
    """After an errored phase the rest are skipped (not run) and say which phase stopped them."""
    error = ServiceStartError("backend", "exited while starting", exit_code=3)
    env, results = await run([phase("a"), raising("setup", error), phase("c"), phase("d")])
    assert statuses(results) == [
        ("a", "passed"),
        ("setup", "error"),
        ("c", "skipped"),
        ("d", "skipped"),
    ]
    assert env.ran == ["a", "setup"]
    assert results[1].error is not None
    assert "backend" in results[1].error
    assert "exit code 3" in results[1].error
    for skipped in results[2:]:
        assert skipped.error is not None
        assert "setup" in skipped.error
        assert skipped.duration_s == 0.0
        assert not skipped.passed


async def test_a_failed_critical_phase_skips_the_rest() -> None:
    """A critical phase that fails stops the drill: later phases are skipped."""
    env, results = await run([phase("a"), phase("restore", [FAIL], critical=True), phase("c")])
    assert statuses(results) == [("a", "passed"), ("restore", "failed"), ("c", "skipped")]
    assert env.ran == ["a", "restore"]


async def test_a_failed_non_critical_phase_does_not_stop_the_drill() -> None:
    """A non-critical failure is reported and the following phases still run."""
    env, results = await run([phase("persist", [FAIL]), phase("new_logins"), phase("breaker")])
    assert statuses(results) == [
        ("persist", "failed"),
        ("new_logins", "passed"),
        ("breaker", "passed"),
    ]
    assert env.ran == ["persist", "new_logins", "breaker"]


async def test_a_passing_critical_phase_does_not_stop_the_drill() -> None:
    """critical only matters when the phase fails."""
    _, results = await run([phase("setup", critical=True), phase("b")])
    assert statuses(results) == [("setup", "passed"), ("b", "passed")]


async def test_cleanup_runs_once_after_success() -> None:
    """Cleanup runs exactly once when every phase passed, after the last one."""
    order: list[str] = []

    async def tracking_cleanup(env: Env) -> None:
        order.extend(env.ran)
        order.append("cleanup")
        env.cleaned += 1

    env, _ = await run([phase("a"), phase("b")], cleanup_fn=tracking_cleanup)
    assert env.cleaned == 1
    assert order == ["a", "b", "cleanup"]


async def test_cleanup_runs_after_an_error() -> None:
    """An errored phase still gets the cleanup (rollback) run."""
    env, _ = await run([raising("a", SessionError("boom")), phase("b")])
    assert env.cleaned == 1


async def test_an_unexpected_exception_propagates_after_cleanup() -> None:
    """A bug (not an AuthdrillError) is not turned into a verdict: cleanup runs, then it raises."""
    env = Env()
    with pytest.raises(RuntimeError, match="a bug"):
        await run([phase("a"), raising("b", RuntimeError("a bug")), phase("c")], env)
    assert env.ran == ["a", "b"]
    assert env.cleaned == 1


async def test_cleanup_runs_when_the_drill_is_cancelled() -> None:
    """Cancelling the drill mid-phase (Ctrl-C) still runs the cleanup, then cancels."""
    env = Env()
    entered = asyncio.Event()
    never = asyncio.Event()

    async def hangs(env: Env) -> list[Check]:
        env.ran.append("hangs")
        entered.set()
        await never.wait()
        return [PASS]

    task = asyncio.create_task(run([phase("a"), PhaseSpec("hangs", "hangs", hangs)], env))
    await asyncio.wait_for(entered.wait(), timeout=5 * TIME_UNIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert env.ran == ["a", "hangs"]
    assert env.cleaned == 1


async def test_progress_hears_started_and_finished_in_order() -> None:
    """Each phase is announced before it runs and reported after, one after another."""
    env, _ = await run([phase("a"), phase("b", [FAIL]), phase("c")])
    assert [e for e in env.events if e[0] in {"started", "finished"}] == [
        ("started", "a/a title"),
        ("finished", "a/passed"),
        ("started", "b/b title"),
        ("finished", "b/failed"),
        ("started", "c/c title"),
        ("finished", "c/passed"),
    ]


async def test_progress_hears_about_an_errored_phase() -> None:
    """An errored phase is finished with status error, like any other."""
    env, _ = await run([raising("a", SessionError("boom"))])
    assert [e for e in env.events if e[0] in {"started", "finished"}] == [
        ("started", "a/a title"),
        ("finished", "a/error"),
    ]


async def test_on_phase_is_called_with_each_name_before_it_runs() -> None:
    """on_phase sees each phase that runs (not skipped ones), before its function runs."""
    seen: list[tuple[str, list[str]]] = []
    env = Env()

    def on_phase(name: str) -> None:
        seen.append((name, list(env.ran)))

    await run([phase("a"), raising("b", SessionError("x")), phase("c")], env, on_phase=on_phase)
    assert seen == [("a", []), ("b", ["a"])]


async def test_duration_comes_from_the_clock() -> None:
    """duration_s is the clock's difference around the phase function."""
    ticks = iter([10.0, 12.5, 20.0, 20.25])
    _, results = await run([phase("a"), phase("b")], clock=lambda: next(ticks))
    assert [r.duration_s for r in results] == [2.5, 0.25]


async def test_no_phases_is_no_results_but_still_a_cleanup() -> None:
    """An empty drill returns nothing and still runs its cleanup."""
    env, results = await run([])
    assert results == []
    assert env.cleaned == 1


async def test_null_progress_accepts_everything() -> None:
    """NullProgress satisfies the protocol and swallows every call."""
    env = Env()
    results = await run_phases([phase("a")], env, progress=NullProgress(), cleanup=cleanup)
    assert statuses(results) == [("a", "passed")]
    assert env.events == []
