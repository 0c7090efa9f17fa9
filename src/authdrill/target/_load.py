"""Reading a target file: TOML in, a validated :class:`~authdrill.target.Target` out.

Every problem, however malformed the input, is a :class:`~authdrill.errors.TargetFileError`
naming the file, the dotted key (``services.backend.depends_on[0]``) and what is wrong.
The file format is shown in full by ``builtin/reference.toml`` and ``builtin/starter.toml``.
This module reads the top level and the services; :mod:`._load_session` the rest.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from authdrill.errors import TargetFileError
from authdrill.target._load_session import (
    Roles,
    parse_health,
    parse_integrity,
    parse_keys,
    parse_session,
)
from authdrill.target._model import ProbeDef, ServiceDef, Target
from authdrill.target._placeholders import split, unknown_placeholder
from authdrill.target._reader import (
    Table,
    Where,
    describe,
    expect_dict,
    expect_int,
    expect_list,
    expect_path,
    expect_seconds,
    expect_str,
    expect_str_list,
    expect_str_table,
    service_ref,
    table_of,
)

__all__ = ["load_target", "parse_target"]

_TOP_KEYS = ("name", "auth", "backend", "services", "session", "health", "keys", "integrity")
_SERVICE_KEYS = (
    *("command", "env", "host", "port", "ready", "depends_on"),
    *("start_timeout", "stop_timeout", "cwd", "metrics"),
)
_READY_KEYS = ("http", "status", "tcp", "log")
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
_OWN_PLACEHOLDERS = ("python", "host", "port", "url", "data_dir", "run_dir")
_OTHER_FIELDS = ("url", "host", "port", "data_dir")
_SHOWN_OTHERS = (f"services.<name>.{'|'.join(_OTHER_FIELDS)}", "env.<NAME>")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_PORT = 65535


def load_target(path: str | Path) -> Target:
    """Read and validate the target file at ``path``.

    Raises:
        TargetFileError: the file cannot be read, is not UTF-8 TOML, or is not a valid target.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TargetFileError(source, "", f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")  # tolerate the BOM some editors write
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise TargetFileError(source, "", problem) from exc
    return parse_target(text, source=source)


def parse_target(text: str, *, source: str) -> Target:
    """Validate the target described by TOML ``text``; ``source`` names it in errors.

    Raises:
        TargetFileError: ``text`` is not TOML or not a valid target.
    """
    try:
        document = tomllib.loads(text)
        return _build(document, source)
    except tomllib.TOMLDecodeError as exc:
        raise TargetFileError(source, "", f"invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise TargetFileError(source, "", "nested too deeply") from exc


def _default_name(source: str) -> str:
    return Path(source.removeprefix("builtin:")).stem or "target"


def _build(document: dict[str, Any], source: str) -> Target:
    top = Table(document, Where(source, ""), _TOP_KEYS)
    services = _services(top)
    names = tuple(services)
    auth = top.read("auth", service_ref(names))
    backend = top.read("backend", service_ref(names))
    if auth == backend:
        raise top.where("backend").error(f"must differ from auth (both are {auth!r})")
    roles = Roles(auth=auth, backend=backend, names=names)
    return Target(
        name=top.read("name", expect_str, _default_name(source)),
        source=source,
        services=services,
        auth=auth,
        backend=backend,
        session=parse_session(top, roles),
        health=parse_health(top, roles),
        keys=parse_keys(top, roles),
        integrity=parse_integrity(top, roles),
    )


# ---------------------------------------------------------------- services
def _services(top: Table) -> dict[str, ServiceDef]:
    at = top.where("services")
    table = top.read("services", lambda v, w: expect_dict(v, w, what="a table of services"))
    if not table:
        raise at.error("no services: define at least one [services.<name>] table")
    for name in table:
        if not _SERVICE_NAME.match(name):
            raise at.child(name).error(
                f"invalid service name {name!r} (lowercase letters, digits, '-' and '_', "
                "starting with a letter)"
            )
    names = tuple(table)
    read = table_of(_SERVICE_KEYS)
    services = {name: _service(name, read(table[name], at.child(name)), names) for name in names}
    _check_cycles(services, at)
    _check_fixed_ports(services, at)
    return services


def _service(name: str, table: Table, names: tuple[str, ...]) -> ServiceDef:
    command = table.read("command", expect_str_list)
    if not command:
        raise table.where("command").error("must not be empty (the program to run comes first)")
    cwd = table.read("cwd", expect_str, None)
    env: dict[str, str] = table.read("env", expect_str_table, {})
    for i, item in enumerate(command):
        _check_service_template(item, table.where("command").item(i), names)
    for variable, value in env.items():
        if not _ENV_NAME.match(variable):
            raise table.where("env").child(variable).error("not a valid environment variable name")
        _check_service_template(value, table.where("env").child(variable), names)
    if cwd is not None:
        _check_service_template(cwd, table.where("cwd"), names)
    return ServiceDef(
        name=name,
        command=command,
        env=env,
        host=table.read("host", expect_str, "127.0.0.1"),
        port=table.read("port", _expect_port, None),
        ready=table.read("ready", _expect_ready, ProbeDef(kind="http")),
        depends_on=table.read("depends_on", _dependencies(names), ()),
        start_timeout_s=table.read("start_timeout", expect_seconds, 30.0),
        stop_timeout_s=table.read("stop_timeout", expect_seconds, 5.0),
        cwd=cwd,
        metrics=table.read("metrics", expect_path, None),
    )


def _expect_port(value: Any, where: Where) -> int | None:
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(f'expected "auto" or an integer 1..{_MAX_PORT}, got {describe(value)}')
    if not 1 <= value <= _MAX_PORT:
        raise where.error(f'must be between 1 and {_MAX_PORT} (or "auto"), got {value}')
    return value


def _expect_ready(value: Any, where: Where) -> ProbeDef:
    table = table_of(_READY_KEYS, what='an inline table like { http = "/health/ready" }')
    ready = table(value, where)
    kinds = [kind for kind in ("http", "tcp", "log") if kind in ready]
    if len(kinds) != 1:
        found = f"got {' and '.join(kinds)}" if kinds else "got none"
        raise where.error(f"needs exactly one of http, tcp, log ({found})")
    if "status" in ready and kinds != ["http"]:
        raise ready.where("status").error("applies only to http probes")
    if kinds == ["tcp"]:
        if ready.data["tcp"] is not True:
            raise ready.where("tcp").error(f"must be true, got {describe(ready.data['tcp'])}")
        return ProbeDef(kind="tcp")
    if kinds == ["log"]:
        return ProbeDef(kind="log", pattern=ready.read("log", _expect_regex))
    status = ready.read("status", _expect_status, 200)
    return ProbeDef(kind="http", path=ready.read("http", expect_path), status=status)


def _expect_status(value: Any, where: Where) -> int:
    return expect_int(value, where, low=100, high=599, what="an HTTP status")


def _expect_regex(value: Any, where: Where) -> str:
    pattern = expect_str(value, where, what="a regular expression")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise where.error(f"invalid regular expression {pattern!r}: {exc}") from exc
    return pattern


def _dependencies(names: tuple[str, ...]) -> Callable[[Any, Where], tuple[str, ...]]:
    ref = service_ref(names)

    def check(value: Any, where: Where) -> tuple[str, ...]:
        items = expect_list(value, where, what="a list of service names")
        found = tuple(ref(item, where.item(i)) for i, item in enumerate(items))
        for i, name in enumerate(found):
            if name in found[:i]:
                raise where.item(i).error(f"{name!r} is listed twice")
        return found

    return check


def _check_cycles(services: Mapping[str, ServiceDef], at: Where) -> None:
    """Refuse a dependency cycle, naming it: ``auth -> backend -> auth``."""
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        path.append(name)
        for dependency in services[name].depends_on:
            if dependency in path:
                cycle = [*path[path.index(dependency) :], dependency]
                where = at.child(name).child("depends_on")
                raise where.error(f"dependency cycle: {' -> '.join(cycle)}")
            if dependency not in done:
                visit(dependency)
        path.pop()
        done.add(name)

    for name in services:
        if name not in done:
            visit(name)


def _check_fixed_ports(services: Mapping[str, ServiceDef], at: Where) -> None:
    owners: dict[tuple[str, int], str] = {}
    for name, service in services.items():
        if service.port is None:
            continue
        owner = owners.setdefault((service.host, service.port), name)
        if owner != name:
            problem = f"{service.host}:{service.port} is also the address of service {owner!r}"
            raise at.child(name).child("port").error(problem)


def _check_service_template(text: str, where: Where, names: tuple[str, ...]) -> None:
    """Refuse a placeholder that a service string cannot have (see the model's docstring)."""
    try:
        parts = split(text)
    except ValueError as exc:
        raise where.error(str(exc)) from exc
    known = [*_OWN_PLACEHOLDERS, *(f"services.{n}.{f}" for n in names for f in _OTHER_FIELDS)]
    for part in parts:
        if isinstance(part, str) or part.name in known:
            continue
        head, _, rest = part.name.partition(".")
        if head == "env" and _ENV_NAME.match(rest):
            continue
        if head == "services" and rest.partition(".")[0] not in names:
            service = rest.partition(".")[0]
            raise where.error(
                f"placeholder '{{{part.name}}}' names unknown service {service!r} "
                f"(services: {', '.join(names)})"
            )
        shown = ", ".join(f"{{{p}}}" for p in (*_OWN_PLACEHOLDERS, *_SHOWN_OTHERS))
        raise where.error(unknown_placeholder(part.name, known, shown=shown))
