"""authdrill: prove that users keep working when the auth service dies.

The public API, also used by the CLI and the pytest plugin::

    report = await authdrill.run_drill("auth-outage", target="my-target.toml")
    assert report.passed, report.describe_failures()

Errors all derive from :class:`authdrill.errors.AuthdrillError` (tree in
:mod:`authdrill.errors`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from authdrill._version import __version__

if TYPE_CHECKING:
    from authdrill.drill import (
        DRILLS,
        Check,
        DrillReport,
        DrillSettings,
        PhaseResult,
        Thresholds,
        default_run_dir,
        run_drill,
    )
    from authdrill.errors import (
        AuthdrillError,
        ConfigError,
        LoginError,
        PortInUseError,
        ServiceError,
        ServiceStartError,
        SessionError,
        TargetFileError,
        WebSocketError,
    )
    from authdrill.process import HttpProbe, LogProbe, ServiceSpec, Supervisor, TcpProbe, free_port
    from authdrill.record import Histogram, Recorder
    from authdrill.report import junit_xml, write_json, write_junit
    from authdrill.session import SessionClient
    from authdrill.target import Target, builtin_target, load_target, resolve_target

__all__ = [
    "DRILLS",
    "AuthdrillError",
    "Check",
    "ConfigError",
    "DrillReport",
    "DrillSettings",
    "Histogram",
    "HttpProbe",
    "LogProbe",
    "LoginError",
    "PhaseResult",
    "PortInUseError",
    "Recorder",
    "ServiceError",
    "ServiceSpec",
    "ServiceStartError",
    "SessionClient",
    "SessionError",
    "Supervisor",
    "Target",
    "TargetFileError",
    "TcpProbe",
    "Thresholds",
    "WebSocketError",
    "__version__",
    "builtin_target",
    "default_run_dir",
    "free_port",
    "junit_xml",
    "load_target",
    "resolve_target",
    "run_drill",
    "write_json",
    "write_junit",
]

# The harness is imported on first use (PEP 562), so that `import authdrill.stack...`
# in a service process does not load the drill engine, rich, plotly and the rest.
_LAZY = {
    "AuthdrillError": "authdrill.errors",
    "Check": "authdrill.drill",
    "ConfigError": "authdrill.errors",
    "DRILLS": "authdrill.drill",
    "DrillReport": "authdrill.drill",
    "DrillSettings": "authdrill.drill",
    "Histogram": "authdrill.record",
    "HttpProbe": "authdrill.process",
    "LogProbe": "authdrill.process",
    "LoginError": "authdrill.errors",
    "PhaseResult": "authdrill.drill",
    "PortInUseError": "authdrill.errors",
    "Recorder": "authdrill.record",
    "ServiceError": "authdrill.errors",
    "ServiceSpec": "authdrill.process",
    "ServiceStartError": "authdrill.errors",
    "SessionClient": "authdrill.session",
    "SessionError": "authdrill.errors",
    "Supervisor": "authdrill.process",
    "Target": "authdrill.target",
    "TargetFileError": "authdrill.errors",
    "TcpProbe": "authdrill.process",
    "Thresholds": "authdrill.drill",
    "WebSocketError": "authdrill.errors",
    "builtin_target": "authdrill.target",
    "default_run_dir": "authdrill.drill",
    "free_port": "authdrill.process",
    "junit_xml": "authdrill.report",
    "load_target": "authdrill.target",
    "resolve_target": "authdrill.target",
    "run_drill": "authdrill.drill",
    "write_json": "authdrill.report",
    "write_junit": "authdrill.report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'authdrill' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
