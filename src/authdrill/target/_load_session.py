"""Reading the ``[session]``, ``[health]`` and ``[keys]`` tables of a target file.

Session strings are templates filled per request: JSON bodies (every string inside),
paths, header values and the WebSocket message may use ``{username}`` ``{password}``
``{refresh_token}`` ``{id}`` ``{n}``. Table keys and header names are taken literally.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authdrill.target._model import (
    HealthDef,
    IntegrityDef,
    KeysDef,
    LoginDef,
    RequestDef,
    SessionDef,
    WebSocketDef,
)
from authdrill.target._placeholders import split, unknown_placeholder
from authdrill.target._reader import (
    Table,
    Where,
    describe,
    expect_dotted,
    expect_int,
    expect_list,
    expect_path,
    expect_str,
    expect_str_table,
    service_ref,
    table_of,
)

__all__ = [
    "SESSION_PLACEHOLDERS",
    "Roles",
    "parse_health",
    "parse_integrity",
    "parse_keys",
    "parse_session",
]

SESSION_PLACEHOLDERS = ("username", "password", "refresh_token", "id", "n")
_SESSION_KEYS = (
    *("username_prefix", "password", "register", "login", "backend_login"),
    *("refresh", "calls", "websocket", "open_call"),
)
_REQUEST_KEYS = ("service", "method", "path", "json", "headers", "expect")
_CALL_KEYS = (*_REQUEST_KEYS, "acknowledges")
_INTEGRITY_KEYS = ("service", "path", "items", "item_id", "next")
_LOGIN_KEYS = (*_REQUEST_KEYS, "token", "refresh_token")
_WEBSOCKET_KEYS = ("service", "path", "send", "reply_id")
_HEALTH_KEYS = ("service", "path", "breaker", "open", "closed", "ready_path")
_KEYS_KEYS = ("service", "path")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 token


@dataclass(frozen=True, slots=True)
class Roles:
    """What session tables need from the rest of the file: the service names and roles."""

    auth: str
    backend: str
    names: tuple[str, ...]

    def ref(self, value: Any, where: Where) -> str:
        """A checker for a service name (``service = "..."`` keys)."""
        return service_ref(self.names)(value, where)


def parse_session(top: Table, roles: Roles) -> SessionDef:
    """The ``[session]`` table (required)."""
    table = top.read("session", table_of(_SESSION_KEYS))
    return SessionDef(
        username_prefix=table.read("username_prefix", expect_str, "drill"),
        password=table.read("password", expect_str, "correct horse battery staple"),
        register=table.read("register", _request_def(roles, roles.auth, "POST", (201,)), None),
        login=table.read("login", _login_def(roles, roles.auth, "POST")),
        backend_login=table.read("backend_login", _login_def(roles, roles.backend, "POST")),
        refresh=table.read("refresh", _login_def(roles, roles.auth, "POST"), None),
        calls=table.read("calls", _calls(roles)),
        websocket=table.read("websocket", _websocket_def(roles), None),
        open_call=table.read("open_call", _request_def(roles, roles.backend, "GET"), None),
    )


def parse_health(top: Table, roles: Roles) -> HealthDef | None:
    """The optional ``[health]`` table: where the backend reports its breaker."""
    if "health" not in top:
        return None
    table = top.read("health", table_of(_HEALTH_KEYS))
    return HealthDef(
        service=table.read("service", roles.ref, roles.backend),
        path=table.read("path", expect_path, "/health"),
        breaker=table.read("breaker", expect_dotted, "breaker.state"),
        open_value=table.read("open", expect_str, "open"),
        closed_value=table.read("closed", expect_str, "closed"),
        ready_path=table.read("ready_path", expect_path, "/health/ready"),
    )


def parse_keys(top: Table, roles: Roles) -> KeysDef | None:
    """The optional ``[keys]`` table: where auth publishes its JWKS."""
    if "keys" not in top:
        return None
    table = top.read("keys", table_of(_KEYS_KEYS))
    return KeysDef(
        service=table.read("service", roles.ref, roles.auth),
        path=table.read("path", expect_path, "/.well-known/jwks.json"),
    )


def parse_integrity(top: Table, roles: Roles) -> IntegrityDef | None:
    """The optional ``[integrity]`` table: how to read back acknowledged writes."""
    if "integrity" not in top:
        return None
    table = top.read("integrity", table_of(_INTEGRITY_KEYS))
    return IntegrityDef(
        service=table.read("service", roles.ref, roles.backend),
        path=table.read("path", _integrity_path),
        items=table.read("items", expect_dotted),
        item_id=table.read("item_id", expect_dotted, "id"),
        next=table.read("next", expect_dotted, "next_after"),
    )


def _integrity_path(value: Any, where: Where) -> str:
    return _check_template(expect_path(value, where), where, extra=("after",))


# ---------------------------------------------------------------- requests
def _request(
    table: Table, roles: Roles, service: str, method: str, expect: tuple[int, ...]
) -> RequestDef:
    return RequestDef(
        service=table.read("service", roles.ref, service),
        method=table.read("method", _expect_method, method),
        path=table.read("path", _template_path),
        json=table.read("json", _template_json, None),
        headers=table.read("headers", _template_headers, {}),
        expect=table.read("expect", _expect_statuses, expect),
        acknowledges=table.read("acknowledges", expect_dotted, None),
    )


def _request_def(
    roles: Roles, service: str, method: str, expect: tuple[int, ...] = (200,)
) -> Callable[[Any, Where], RequestDef]:
    read = table_of(_REQUEST_KEYS, what="a request table")
    return lambda value, where: _request(read(value, where), roles, service, method, expect)


def _login_def(roles: Roles, service: str, method: str) -> Callable[[Any, Where], LoginDef]:
    read = table_of(_LOGIN_KEYS, what="a login table")

    def check(value: Any, where: Where) -> LoginDef:
        table = read(value, where)
        refresh_token: str | None = "refresh_token"  # noqa: S105 - a JSON field name
        return LoginDef(
            request=_request(table, roles, service, method, (200,)),
            token=table.read("token", expect_dotted, "access_token"),
            refresh_token=table.read("refresh_token", _expect_refresh_token, refresh_token),
        )

    return check


def _calls(roles: Roles) -> Callable[[Any, Where], tuple[RequestDef, ...]]:
    read_table = table_of(_CALL_KEYS, what="a call table")

    def read(value: Any, where: Where) -> RequestDef:
        return _request(read_table(value, where), roles, roles.backend, "GET", (200,))

    def check(value: Any, where: Where) -> tuple[RequestDef, ...]:
        items = expect_list(value, where, what="a list of request tables ([[session.calls]])")
        if not items:
            raise where.error("needs at least one call")
        return tuple(read(item, where.item(i)) for i, item in enumerate(items))

    return check


def _websocket_def(roles: Roles) -> Callable[[Any, Where], WebSocketDef]:
    read = table_of(_WEBSOCKET_KEYS, what="a websocket table")

    def check(value: Any, where: Where) -> WebSocketDef:
        table = read(value, where)
        return WebSocketDef(
            service=table.read("service", roles.ref, roles.backend),
            path=table.read("path", _template_path),
            send=table.read("send", _template_json),
            reply_id=table.read("reply_id", expect_dotted, "id"),
        )

    return check


# ---------------------------------------------------------------- values
def _expect_method(value: Any, where: Where) -> str:
    method = expect_str(value, where, what="an HTTP method").upper()
    if method not in _METHODS:
        raise where.error(f"method {value!r} is not allowed (allowed: {', '.join(_METHODS)})")
    return method


def _expect_statuses(value: Any, where: Where) -> tuple[int, ...]:
    def status(item: Any, at: Where) -> int:
        return expect_int(item, at, low=100, high=599, what="an HTTP status or a list of them")

    if not isinstance(value, list):
        return (status(value, where),)
    if not value:
        raise where.error("must list at least one status")
    return tuple(status(item, where.item(i)) for i, item in enumerate(value))


def _expect_refresh_token(value: Any, where: Where) -> str | None:
    if value is False:
        return None
    if not isinstance(value, str):
        problem = f"expected a dotted path or false (no refresh token), got {describe(value)}"
        raise where.error(problem)
    return expect_dotted(value, where)


def _check_template(text: str, where: Where, *, extra: tuple[str, ...] = ()) -> str:
    known = (*SESSION_PLACEHOLDERS, *extra)
    try:
        parts = split(text)
    except ValueError as exc:
        raise where.error(str(exc)) from exc
    for part in parts:
        if not isinstance(part, str) and part.name not in known:
            raise where.error(unknown_placeholder(part.name, known))
    return text


def _template_path(value: Any, where: Where) -> str:
    return _check_template(expect_path(value, where), where)


def _template_headers(value: Any, where: Where) -> dict[str, str]:
    headers = expect_str_table(value, where)
    for name, text in headers.items():
        if not _HEADER_NAME.match(name):
            raise where.child(name).error(f"{name!r} is not a valid HTTP header name")
        _check_template(text, where.child(name))
    return headers


def _template_json(value: Any, where: Where) -> Any:
    """A TOML value that can be sent as JSON, its strings valid session templates."""
    if isinstance(value, str):
        return _check_template(value, where)
    if isinstance(value, dict):
        for name, item in value.items():
            _template_json(item, where.child(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _template_json(item, where.item(i))
    elif isinstance(value, dt.date | dt.time):  # datetime is a date
        raise where.error(f"{describe(value)} cannot be sent as JSON (quote it as a string)")
    elif isinstance(value, float) and not math.isfinite(value):
        raise where.error(f"{value} is not a JSON number")
    return value
