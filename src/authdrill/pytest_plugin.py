"""authdrill's pytest plugin (loaded automatically once authdrill is installed).

Fixtures, over the same public API as the CLI:

``drill``
    a :class:`DrillRunner`: ``drill.run("auth-outage")`` (plain tests) or
    ``await drill.arun("auth-outage")`` (async tests) runs a drill in a fresh run
    directory under the test's ``tmp_path`` and returns its
    :class:`~authdrill.drill.DrillReport`. With ``-s`` you see live progress.
``authdrill_target``
    the target (``--authdrill-target FILE``; default: the built-in reference stack).
``authdrill_settings`` / ``authdrill_thresholds``
    :class:`~authdrill.drill.DrillSettings` (``--authdrill-users N``) and the default
    :class:`~authdrill.drill.Thresholds`; override the fixtures to change them.

Marker: ``@pytest.mark.e2e`` for tests that run real drills (``-m "not e2e"`` skips them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from authdrill.drill import DRILLS, DrillReport, DrillSettings, Thresholds, run_drill
from authdrill.report import TerminalProgress, print_summary, write_json
from authdrill.target import Target, resolve_target

__all__ = ["DrillRunner"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authdrill")
    group.addoption("--authdrill-target", default=None, help="target TOML file or builtin:<name>")
    group.addoption("--authdrill-users", type=int, default=None, help="sessions per drill")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs a real drill against real processes (slow)")


class DrillRunner:
    """Runs drills for one test; every run's JSON report is kept in its run directory."""

    def __init__(
        self, *, target: Target, settings: DrillSettings, thresholds: Thresholds, base: Path
    ) -> None:
        self.target = target
        self.settings = settings
        self.thresholds = thresholds
        self._base = base
        self.reports: list[DrillReport] = []

    async def arun(self, drill: str = "auth-outage", **overrides: Any) -> DrillReport:
        """Run ``drill``; keyword arguments override settings/thresholds fields by name."""
        settings = dataclasses.replace(
            self.settings, **{k: v for k, v in overrides.items() if k in _fields(DrillSettings)}
        )
        thresholds = dataclasses.replace(
            self.thresholds, **{k: v for k, v in overrides.items() if k in _fields(Thresholds)}
        )
        unknown = set(overrides) - _fields(DrillSettings) - _fields(Thresholds)
        if unknown:
            raise TypeError(f"unknown drill overrides: {', '.join(sorted(unknown))}")
        run_dir = self._base / f"{len(self.reports) + 1}-{drill}"
        console = Console(file=sys.stdout, highlight=False)
        report = await run_drill(
            drill,
            target=self.target,
            settings=settings,
            thresholds=thresholds,
            run_dir=run_dir,
            progress=TerminalProgress(
                console, total_phases=len(DRILLS[drill].phases) if drill in DRILLS else 0
            ),
        )
        print_summary(console, report)
        write_json(report, run_dir / "report.json")
        self.reports.append(report)
        return report

    def run(self, drill: str = "auth-outage", **overrides: Any) -> DrillReport:
        """Like :meth:`arun`, for plain (non-async) tests."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(drill, **overrides))
        raise RuntimeError(
            "an event loop is running here: use 'await drill.arun(...)' in async tests"
        )


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.fixture(scope="session")
def authdrill_target(pytestconfig: pytest.Config) -> Target:
    """The target drills run against."""
    return resolve_target(pytestconfig.getoption("authdrill_target"))


@pytest.fixture
def authdrill_settings(pytestconfig: pytest.Config) -> DrillSettings:
    """Drill settings (``--authdrill-users`` sets the number of sessions)."""
    users = pytestconfig.getoption("authdrill_users")
    return DrillSettings() if users is None else DrillSettings(users=users)


@pytest.fixture
def authdrill_thresholds() -> Thresholds:
    """The thresholds every check is judged against (the DESIGN defaults)."""
    return Thresholds()


@pytest.fixture
def drill(
    authdrill_target: Target,
    authdrill_settings: DrillSettings,
    authdrill_thresholds: Thresholds,
    tmp_path: Path,
) -> DrillRunner:
    """Runs drills; see :class:`DrillRunner`."""
    return DrillRunner(
        target=authdrill_target,
        settings=authdrill_settings,
        thresholds=authdrill_thresholds,
        base=tmp_path / "authdrill",
    )
