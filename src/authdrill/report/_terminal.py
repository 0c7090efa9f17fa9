"""The terminal: live progress while a drill runs, a phase/check table at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from authdrill.drill import DrillReport, PhaseResult

__all__ = ["TerminalProgress", "print_summary"]

_STATUS_STYLE = {"passed": "green", "failed": "bold red", "error": "bold red", "skipped": "yellow"}
_MARK = {"passed": "✔", "failed": "✘", "error": "✘", "skipped": "-"}


class _LiveStatus:
    """A renderable that asks for the status each time rich refreshes it."""

    def __init__(self, status: Callable[[], str], started: float) -> None:
        self._status = status
        self._started = started

    def __rich__(self) -> Text:
        elapsed = time.perf_counter() - self._started
        return Text(f"{elapsed:6.1f}s  {self._status()}", style="cyan")


class TerminalProgress:
    """Prints each phase as it starts and ends, and notes in between (unless ``quiet``).

    While a drill runs, a live status line (phase, operations, ops/s, failures, breaker)
    is kept at the bottom of a terminal; without a terminal (CI logs) the same line is
    printed every ``status_every_s`` seconds instead.
    """

    def __init__(
        self,
        console: Console,
        *,
        total_phases: int,
        quiet: bool = False,
        status_every_s: float = 5.0,
    ) -> None:
        self._console = console
        self._total = total_phases
        self._quiet = quiet
        self._index = 0
        self._started = time.perf_counter()
        self._status_every_s = status_every_s
        self._live: Live | None = None
        self._printer: asyncio.Task[None] | None = None

    def watch(self, status: Callable[[], str] | None) -> None:
        """Show ``status()`` live until called with ``None``."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._printer is not None:
            self._printer.cancel()
            self._printer = None
        if status is None or self._quiet:
            return
        if self._console.is_terminal:
            live = Live(
                _LiveStatus(status, self._started),
                console=self._console,
                refresh_per_second=4,
                transient=True,
            )
            self._live = live
            live.start()
        else:
            self._printer = asyncio.get_running_loop().create_task(self._print_every(status))

    async def _print_every(self, status: Callable[[], str]) -> None:
        while True:
            await asyncio.sleep(self._status_every_s)  # a reporting period
            self._console.print(f"[dim]{self._elapsed()}    ~ {status()}[/]", highlight=False)

    def _elapsed(self) -> str:
        return f"{time.perf_counter() - self._started:6.2f}s"

    def phase_started(self, name: str, title: str) -> None:
        self._index += 1
        if not self._quiet:
            self._console.print(
                f"[dim]{self._elapsed()}[/] [bold]{self._index}/{self._total} {name}[/] — {title}"
            )

    def note(self, message: str) -> None:
        if not self._quiet:
            self._console.print(f"[dim]{self._elapsed()}    · {message}[/]", highlight=False)

    def phase_finished(self, result: PhaseResult) -> None:
        if self._quiet:
            return
        style = _STATUS_STYLE[result.status]
        line = Text(f"{self._elapsed()}    ")
        line.append(f"{_MARK[result.status]} {result.status}", style=style)
        line.append(f" in {result.duration_s:.2f} s")
        self._console.print(line)
        if result.error:
            self._console.print(f"           [red]{result.error}[/]", highlight=False)
        for check in result.checks:
            if not check.passed:
                self._console.print(
                    f"           [red]✘ {check.name}: expected {check.expected}, "
                    f"observed {check.observed}[/]",
                    highlight=False,
                )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"  # noqa: PLR2004


def _checks_table(report: DrillReport) -> Table:
    table = Table(
        title=f"{report.drill} against {report.target}", title_justify="left", expand=False
    )
    table.add_column("", width=1)
    table.add_column("phase / check", overflow="fold", ratio=3)
    table.add_column("observed", overflow="fold", ratio=2)
    table.add_column("expected", overflow="fold", ratio=2)
    for index, phase in enumerate(report.phases, 1):
        style = _STATUS_STYLE[phase.status]
        if index > 1:
            table.add_section()
        table.add_row(
            Text(_MARK[phase.status], style=style),
            Text(f"{index} {phase.name}: {phase.title}", style="bold"),
            Text(f"{phase.status} in {phase.duration_s:.2f} s", style=style),
            "",
        )
        if phase.error:
            table.add_row("", Text(phase.error, style="red"), "", "")
        for check in phase.checks:
            mark = Text("✔", style="green") if check.passed else Text("✘", style="bold red")
            observed = Text(check.observed, style="" if check.passed else "red")
            table.add_row(mark, f"  {check.name}", observed, check.expected)
    return table


def print_summary(console: Console, report: DrillReport) -> None:
    """The phase/check table, the measurements, and the verdict."""
    console.print(_checks_table(report))
    measurements = Table(title="measurements", title_justify="left")
    measurements.add_column("name")
    measurements.add_column("value", justify="right")
    for name, value in report.measurements.items():
        measurements.add_row(name, _fmt(value))
    console.print(measurements)
    failure = report.first_failure
    if report.passed:
        console.print(
            f"[bold green]PASSED[/] {report.drill}: every check held ({report.wall_s:.1f} s)"
        )
    elif failure is not None:
        console.print(
            f"[bold red]FAILED[/] {report.drill} at phase [bold]{failure.name}[/] "
            f"({failure.title}); {report.wall_s:.1f} s"
        )
    console.print(f"[dim]logs: {report.details.get('run_dir', '')}/logs[/]", highlight=False)
