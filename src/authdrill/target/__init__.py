"""Targets: the system under test, described in TOML, rendered into services to start.

* :func:`resolve_target` / :func:`load_target` / :func:`parse_target` read a target file
  (or a built-in) into a validated :class:`Target`; every problem is a
  :class:`~authdrill.errors.TargetFileError` naming file, key and problem.
* :func:`allocate_ports`, :func:`service_urls` and :func:`render_services` turn a target
  into the :class:`~authdrill.process.ServiceSpec` list of one run.
* :func:`fill` fills the session templates (``{username}``, ``{id}``, ...) per request.
* :func:`starter_text` / :func:`write_starter` back ``authdrill init``.
"""

from authdrill.target._builtin import builtin_names, builtin_target, resolve_target
from authdrill.target._load import load_target, parse_target
from authdrill.target._model import (
    HealthDef,
    IntegrityDef,
    KeysDef,
    LoginDef,
    ProbeDef,
    RequestDef,
    ServiceDef,
    SessionDef,
    Target,
    WebSocketDef,
)
from authdrill.target._render import allocate_ports, fill, render_services, service_urls
from authdrill.target._template import starter_text, write_starter

__all__ = [
    "HealthDef",
    "IntegrityDef",
    "KeysDef",
    "LoginDef",
    "ProbeDef",
    "RequestDef",
    "ServiceDef",
    "SessionDef",
    "Target",
    "WebSocketDef",
    "allocate_ports",
    "builtin_names",
    "builtin_target",
    "fill",
    "load_target",
    "parse_target",
    "render_services",
    "resolve_target",
    "service_urls",
    "starter_text",
    "write_starter",
]
