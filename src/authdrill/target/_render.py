"""Turning a target into what one run needs: ports, URLs, and service specs to start.

Everything here is pure given its inputs: free ports come from a function the caller
passes (:func:`authdrill.process.free_port`), the environment is a mapping, and nothing
is created on disk (services make their own ``{data_dir}``; callers may create it first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from authdrill.errors import ConfigError
from authdrill.process import HttpProbe, LogProbe, ReadinessProbe, ServiceSpec, TcpProbe
from authdrill.target._model import ProbeDef, ServiceDef, Target
from authdrill.target._placeholders import Placeholder, split, unknown_placeholder

__all__ = ["allocate_ports", "fill", "render_services", "service_urls"]

_PORT_ATTEMPTS = 20


def fill(template: Any, values: Mapping[str, Any], *, key: str) -> Any:
    """``template`` with every placeholder in its strings (at any depth) filled.

    A string that is exactly one placeholder (``"{n}"``) becomes the value itself, keeping
    its type; otherwise values are interpolated with ``str()``. ``{{`` and ``}}`` become
    literal braces. Dict keys are kept as they are; other values are returned unchanged.

    Raises:
        ConfigError: an unknown placeholder or a lone brace, at ``key`` (``json.items[0]``).
    """
    if isinstance(template, str):
        return _fill_string(template, values, key)
    if isinstance(template, Mapping):
        return {name: fill(v, values, key=f"{key}.{name}") for name, v in template.items()}
    if isinstance(template, list | tuple):
        filled = [fill(item, values, key=f"{key}[{i}]") for i, item in enumerate(template)]
        return tuple(filled) if isinstance(template, tuple) else filled
    return template


def _fill_string(text: str, values: Mapping[str, Any], key: str) -> Any:
    try:
        parts = split(text)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from exc

    def value(placeholder: Placeholder) -> Any:
        if placeholder.name not in values:
            raise ConfigError(key, unknown_placeholder(placeholder.name, values))
        return values[placeholder.name]

    if len(parts) == 1 and isinstance(parts[0], Placeholder):
        return value(parts[0])
    return "".join(part if isinstance(part, str) else str(value(part)) for part in parts)


def allocate_ports(target: Target, free: Callable[[str], int]) -> dict[str, int]:
    """A port for every service, in file order: fixed ones kept, "auto" ones from ``free``.

    ``free(host)`` is asked again (a bounded number of times) if it returns a port that
    another service of the target already has.

    Raises:
        ConfigError: ``free`` kept returning ports that are already taken.
    """
    fixed = {name: s.port for name, s in target.services.items() if s.port is not None}
    taken = set(fixed.values())
    ports: dict[str, int] = {}
    for name, service in target.services.items():
        port = fixed.get(name)
        attempts = 0
        while port is None:
            candidate = free(service.host)
            attempts += 1
            if candidate not in taken:
                port = candidate
            elif attempts >= _PORT_ATTEMPTS:
                problem = f"no free port on {service.host} distinct from the other services'"
                raise ConfigError(f"services.{name}.port", problem)
        taken.add(port)
        ports[name] = port
    return ports


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def service_urls(target: Target, ports: Mapping[str, int]) -> dict[str, str]:
    """``http://host:port`` of every service (IPv6 hosts in brackets), in file order."""
    return {name: _url(s.host, ports[name]) for name, s in target.services.items()}


def render_services(
    target: Target,
    *,
    run_dir: Path,
    ports: Mapping[str, int],
    python: str,
    environ: Mapping[str, str],
) -> list[ServiceSpec]:
    """The spec of every service, dependencies first (:meth:`Target.start_order`).

    Each service's ``{data_dir}`` is ``run_dir / "data" / <name>``; a relative ``cwd`` is
    relative to the directory of the target file.

    Raises:
        ConfigError: a service has no port in ``ports``, a ``{env.X}`` names a variable
            missing from ``environ``, or a template is malformed.
    """
    for name in target.services:
        if name not in ports:
            raise ConfigError(f"services.{name}.port", "no port was allocated for it")
    values: dict[str, Any] = {"python": python, "run_dir": str(run_dir)}
    for name, service in target.services.items():
        own = _own_values(name, service, ports[name], run_dir)
        values.update({f"services.{name}.{field}": v for field, v in own.items()})
    return [
        _render(target, name, values, run_dir=run_dir, port=ports[name], environ=environ)
        for name in target.start_order()
    ]


def _own_values(name: str, service: ServiceDef, port: int, run_dir: Path) -> dict[str, Any]:
    data_dir = run_dir / "data" / name
    return {
        "host": service.host,
        "port": port,
        "url": _url(service.host, port),
        "data_dir": str(data_dir),
    }


def _render(
    target: Target,
    name: str,
    shared: Mapping[str, Any],
    *,
    run_dir: Path,
    port: int,
    environ: Mapping[str, str],
) -> ServiceSpec:
    service = target.services[name]
    at = f"services.{name}"
    templates = {f"{at}.command[{i}]": item for i, item in enumerate(service.command)}
    templates.update({f"{at}.env.{variable}": v for variable, v in service.env.items()})
    if service.cwd is not None:
        templates[f"{at}.cwd"] = service.cwd
    values = {
        **shared,
        **_own_values(name, service, port, run_dir),
        **_env_values(templates, environ),
    }
    rendered = {key: str(fill(text, values, key=key)) for key, text in templates.items()}
    cwd = rendered.get(f"{at}.cwd")
    return ServiceSpec(
        name=name,
        argv=tuple(rendered[f"{at}.command[{i}]"] for i in range(len(service.command))),
        host=service.host,
        port=port,
        env={variable: rendered[f"{at}.env.{variable}"] for variable in service.env},
        cwd=None if cwd is None else Path(target.source).parent / cwd,
        ready=_probe(service.ready),
        start_timeout_s=service.start_timeout_s,
        stop_timeout_s=service.stop_timeout_s,
    )


def _env_values(templates: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """``env.X`` -> the value of X for every ``{env.X}`` used; a missing X is an error."""
    values: dict[str, str] = {}
    for key, text in templates.items():
        try:
            parts = split(text)
        except ValueError:
            continue  # fill() reports it with its key
        for part in parts:
            if isinstance(part, Placeholder) and part.name.startswith("env."):
                variable = part.name.removeprefix("env.")
                if variable not in environ:
                    raise ConfigError(key, f"environment variable {variable!r} is not set")
                values[part.name] = environ[variable]
    return values


def _probe(ready: ProbeDef) -> ReadinessProbe:
    if ready.kind == "tcp":
        return TcpProbe()
    if ready.kind == "log":
        return LogProbe(ready.pattern)
    return HttpProbe(path=ready.path, status=ready.status)
