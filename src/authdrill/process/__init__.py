"""Services as real OS processes: supervisor, readiness probes, free ports, reaper."""

from authdrill.process._ports import free_port, is_listening, wait_refusing
from authdrill.process._probes import HttpProbe, LogProbe, ProbeContext, ReadinessProbe, TcpProbe
from authdrill.process._reaper import default_state_dir, reap_stale_runs
from authdrill.process._service import KillReport, ManagedService, ServiceSpec, StartReport
from authdrill.process._supervisor import Supervisor

__all__ = [
    "HttpProbe",
    "KillReport",
    "LogProbe",
    "ManagedService",
    "ProbeContext",
    "ReadinessProbe",
    "ServiceSpec",
    "StartReport",
    "Supervisor",
    "TcpProbe",
    "default_state_dir",
    "free_port",
    "is_listening",
    "reap_stale_runs",
    "wait_refusing",
]
