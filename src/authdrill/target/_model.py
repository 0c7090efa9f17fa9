"""What a target is: the services of a system under test and how to use it as a user.

These records are what a target TOML file (see :mod:`authdrill.target._load`) turns
into. Strings may hold placeholders, filled in when a run renders them
(:mod:`authdrill.target._render`):

* service level: ``{python}`` ``{host}`` ``{port}`` ``{url}`` ``{data_dir}`` ``{run_dir}``
  ``{services.<name>.url|host|port|data_dir}`` ``{env.<VARIABLE>}``
* session level: ``{username}`` ``{password}`` ``{refresh_token}`` ``{id}`` ``{n}``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeDef:
    """A readiness probe: ``http`` (GET ``path`` == ``status``), ``tcp`` or ``log`` (regex)."""

    kind: Literal["http", "tcp", "log"]
    path: str = "/health/ready"
    status: int = 200
    pattern: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceDef:
    """One service of the target.

    Attributes:
        port: a fixed port, or ``None`` to pick a free one for each run ("auto").
        metrics: the path of its Prometheus metrics, scraped during drills (optional).
    """

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int | None = None
    ready: ProbeDef = field(default_factory=lambda: ProbeDef(kind="http"))
    depends_on: tuple[str, ...] = ()
    start_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0
    cwd: str | None = None
    metrics: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDef:
    """An HTTP request to one of the target's services.

    Attributes:
        service: whose URL the path is appended to.
        json: a JSON body template (strings may hold placeholders), or ``None``.
        expect: the statuses that mean success.
        acknowledges: for a write, the dotted path of the id of what it stored in its
            JSON answer; every id so acknowledged must be readable afterwards
            (see :class:`IntegrityDef`).
    """

    service: str
    path: str
    method: str = "GET"
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = (200,)
    acknowledges: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginDef:
    """A request that yields tokens, and where in its JSON answer they are.

    Attributes:
        token: dotted path of the access token in the response JSON.
        refresh_token: dotted path of the refresh token, if the target has one.
    """

    request: RequestDef
    token: str = "access_token"  # noqa: S105 - a JSON field name, not a secret
    refresh_token: str | None = "refresh_token"  # noqa: S105 - a JSON field name


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSocketDef:
    """The WebSocket that proves a live session works.

    Attributes:
        send: the message template; ``{id}`` is replaced by a fresh request id.
        reply_id: dotted path of the field in the reply that must equal the id sent.
    """

    service: str
    path: str
    send: Any
    reply_id: str = "id"


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthDef:
    """Where the backend reports its circuit breaker (dotted path into JSON)."""

    service: str
    path: str = "/health"
    breaker: str = "breaker.state"
    open_value: str = "open"
    closed_value: str = "closed"
    ready_path: str = "/health/ready"


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityDef:
    """How to read back what a user wrote, to prove nothing acknowledged was lost.

    Attributes:
        path: an authenticated GET; ``{after}`` is the page cursor (``0`` first).
        items: dotted path of the list of items in the answer.
        item_id: dotted path of an item's id (compared with acknowledged ids).
        next: dotted path of the next cursor; ``null`` or absent ends the listing.
    """

    service: str
    path: str
    items: str
    item_id: str = "id"
    next: str = "next_after"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeysDef:
    """Where auth publishes its verification keys (a JWKS), to compare across restarts."""

    service: str
    path: str = "/.well-known/jwks.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDef:
    """How a user uses the target.

    Attributes:
        register: creates the user (optional: some targets have users already).
        login: logs in at auth directly (sessions of phase 2).
        backend_login: logs in through the backend (what phase 5 hammers).
        refresh: exchanges a refresh token for new tokens (optional).
        calls: authenticated calls (Bearer token added) that must succeed.
        websocket: the live connection to hold (optional).
        open_call: a call that needs no authentication, whose latency must not suffer.
        username_prefix: users are ``<prefix>-<run>-<n>``.
        password: the password every drill user gets.
    """

    login: LoginDef
    backend_login: LoginDef
    calls: tuple[RequestDef, ...]
    register: RequestDef | None = None
    refresh: LoginDef | None = None
    websocket: WebSocketDef | None = None
    open_call: RequestDef | None = None
    username_prefix: str = "drill"
    password: str = "correct horse battery staple"  # noqa: S105 - drill users' fixture


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A system under test.

    Attributes:
        source: the file it was read from, or ``builtin:<name>``.
        services: by name, in file order.
        auth: the service the drills take down.
        backend: the service users talk to.
        health: where the backend reports its breaker (optional).
        keys: where auth publishes its keys (optional).
        integrity: how to read back acknowledged writes (optional).
    """

    name: str
    source: str
    services: Mapping[str, ServiceDef]
    auth: str
    backend: str
    session: SessionDef
    health: HealthDef | None = None
    keys: KeysDef | None = None
    integrity: IntegrityDef | None = None

    def start_order(self) -> list[str]:
        """Service names with every dependency before its dependents (file order otherwise)."""
        ordered: list[str] = []
        placed: set[str] = set()

        def place(name: str) -> None:
            if name in placed:
                return
            for dependency in self.services[name].depends_on:
                place(dependency)
            placed.add(name)
            ordered.append(name)

        for name in self.services:
            place(name)
        return ordered
