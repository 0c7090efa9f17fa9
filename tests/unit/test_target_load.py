"""Target files: the built-ins load, and every malformed file says file, key and problem."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authdrill.errors import ConfigError, TargetFileError
from authdrill.target import (
    HealthDef,
    KeysDef,
    ProbeDef,
    Target,
    builtin_names,
    builtin_target,
    load_target,
    parse_target,
    resolve_target,
    starter_text,
    write_starter,
)

TOP = 'auth = "auth"\nbackend = "backend"\n'
SERVICES = """
[services.auth]
command = ["auth-server", "--port", "{port}"]

[services.backend]
command = ["api", "--auth", "{services.auth.url}"]
depends_on = ["auth"]
"""
SESSION = """
[session]
login = { path = "/login" }
backend_login = { path = "/api/login" }
calls = [{ path = "/api/me" }]
"""


def doc(
    *, top: str = TOP, services: str = SERVICES, session: str = SESSION, extra: str = ""
) -> str:
    """A small target file with one part swapped (top-level keys must come first)."""
    return f"{top}\n{services}\n{session}\n{extra}"


def reference_text() -> str:
    files = resources.files("authdrill.target.builtin")
    return files.joinpath("reference.toml").read_text("utf-8")


# ---------------------------------------------------------------- valid files
def test_reference_loads_with_its_services_and_roles() -> None:
    """The built-in reference target has auth and backend, backend depending on auth."""
    target = builtin_target()
    assert target.name == "reference"
    assert target.source == "builtin:reference"
    assert (target.auth, target.backend) == ("auth", "backend")
    assert list(target.services) == ["auth", "backend"]
    backend = target.services["backend"]
    assert backend.depends_on == ("auth",)
    assert backend.port is None
    assert backend.command[-2:] == ("--auth-url", "{services.auth.url}")
    assert backend.ready == ProbeDef(kind="http", path="/health/ready", status=200)
    assert target.services["auth"].start_timeout_s == 30.0
    assert target.services["auth"].stop_timeout_s == 5.0
    assert target.start_order() == ["auth", "backend"]


def test_reference_session_health_and_keys() -> None:
    """The reference session tables map onto requests, logins, websocket, health and keys."""
    session = builtin_target().session
    assert session.register is not None
    assert session.register.expect == (201,)
    assert session.login.request.service == "auth"
    assert session.login.request.json == {"username": "{username}", "password": "{password}"}
    assert session.backend_login.request.path == "/api/login"
    assert session.refresh is not None
    assert session.refresh.refresh_token == "refresh_token"
    assert [call.path for call in session.calls] == ["/api/me", "/api/notes"]
    assert session.calls[1].method == "POST"
    assert session.websocket is not None
    assert session.websocket.send == {"type": "ping", "id": "{id}"}
    assert session.open_call is not None
    assert session.open_call.path == "/health/live"
    target = builtin_target()
    assert target.health == HealthDef(service="backend")
    assert target.keys == KeysDef(service="auth")


def test_defaults_of_a_minimal_file() -> None:
    """Left-out keys take their documented defaults, by the role of each table."""
    target = parse_target(doc(), source="targets/mini.toml")
    assert target.name == "mini"
    auth = target.services["auth"]
    assert (auth.host, auth.port, auth.env, auth.cwd, auth.depends_on) == (
        "127.0.0.1",
        None,
        {},
        None,
        (),
    )
    assert auth.ready == ProbeDef(kind="http")
    session = target.session
    assert (session.username_prefix, session.password) == ("drill", "correct horse battery staple")
    assert (session.login.request.service, session.login.request.method) == ("auth", "POST")
    assert session.login.token == "access_token"
    assert session.login.refresh_token == "refresh_token"
    assert session.backend_login.request.service == "backend"
    call = session.calls[0]
    assert (call.service, call.method, call.expect, call.json, call.headers) == (
        "backend",
        "GET",
        (200,),
        None,
        {},
    )
    assert (session.register, session.refresh, session.websocket, session.open_call) == (
        None,
        None,
        None,
        None,
    )
    assert (target.health, target.keys) == (None, None)


def test_optional_forms_are_read() -> None:
    """Fixed ports, tcp/log probes, lowercase methods, int expect and refresh_token=false."""
    services = """
[services.auth]
command = ["a"]
port = 8123
ready = { log = "ready on \\\\d+" }
env = { HOME_DIR = "{env.HOME}", URL = "{{literal}} {url}" }
cwd = "{run_dir}/auth"

[services.backend]
command = ["b"]
ready = { tcp = true }
start_timeout = 2.5
"""
    session = """
[session]
login = { path = "/login", refresh_token = false, token = "data.token" }
backend_login = { path = "/api/login", method = "put", expect = 204 }
calls = [{ path = "/x/{n}", headers = { X-User = "{username}" } }]
websocket = { path = "/ws", send = "hello {id}" }
"""
    target = parse_target(doc(services=services, session=session), source="t.toml")
    auth, backend = target.services["auth"], target.services["backend"]
    assert auth.port == 8123
    assert auth.ready == ProbeDef(kind="log", pattern="ready on \\d+")
    assert auth.cwd == "{run_dir}/auth"
    assert backend.ready == ProbeDef(kind="tcp")
    assert backend.start_timeout_s == 2.5
    login = target.session.login
    assert (login.refresh_token, login.token) == (None, "data.token")
    assert target.session.backend_login.request.method == "PUT"
    assert target.session.backend_login.request.expect == (204,)
    assert target.session.websocket is not None
    assert target.session.websocket.service == "backend"


def test_the_starter_parses_and_explains_itself() -> None:
    """`authdrill init`'s starter is a valid target that comments on each key."""
    text = starter_text()
    target = parse_target(text, source="authdrill.toml")
    assert (target.auth, target.backend) == ("auth", "api")
    assert target.session.websocket is not None
    for key in ("start_timeout", "depends_on", "refresh_token", "reply_id", "{data_dir}"):
        assert key in text
    assert text.count("#") > 50


def test_builtins_and_resolve_target(tmp_path: Path) -> None:
    """None and builtin:<name> name built-ins; anything else is a file path."""
    assert builtin_names() == [
        "broken-deferred-writes",
        "broken-ephemeral-keys",
        "broken-no-breaker",
        "broken-ready-needs-auth",
        "broken-remote-validation",
        "reference",
    ]
    assert resolve_target(None).source == "builtin:reference"
    assert resolve_target("builtin:reference").name == "reference"
    path = tmp_path / "mine.toml"
    path.write_text(doc(), encoding="utf-8")
    assert resolve_target(path).name == "mine"
    assert resolve_target(str(path)).source == str(path)
    with pytest.raises(TargetFileError) as caught:
        resolve_target("builtin:nope")
    assert caught.value.path == "builtin:nope"
    assert "reference" in caught.value.problem
    assert "broken-no-breaker" in caught.value.problem


def test_broken_variants_swap_one_service_module() -> None:
    """A broken built-in is the reference with exactly one service run from its broken module."""
    reference = builtin_target("reference")
    broken = resolve_target("builtin:broken-ephemeral-keys")
    assert broken.source == "builtin:broken-ephemeral-keys"
    assert "authdrill.stack.broken.ephemeral_keys" in broken.services["auth"].command
    assert "authdrill.stack.auth" not in broken.services["auth"].command
    assert broken.services["backend"] == reference.services["backend"]
    assert broken.session == reference.session


def test_write_starter_refuses_to_overwrite(tmp_path: Path) -> None:
    """The starter is written once; a second write needs force."""
    path = tmp_path / "authdrill.toml"
    write_starter(path)
    assert path.read_text(encoding="utf-8") == starter_text()
    path.write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        write_starter(path)
    assert caught.value.key == "path"
    assert "exists; use --force" in caught.value.problem
    assert path.read_text(encoding="utf-8") == "mine"
    write_starter(path, force=True)
    assert path.read_text(encoding="utf-8") == starter_text()
    with pytest.raises(ConfigError, match="cannot write"):
        write_starter(tmp_path / "missing" / "x.toml")


# ---------------------------------------------------------------- file errors
def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    """A missing file, a directory and non-UTF-8 bytes are errors about the file itself."""
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b'name = "caf\xe9"\n')
    for path, fragment in [
        (tmp_path / "absent.toml", "cannot read"),
        (tmp_path, "cannot read"),
        (binary, "not UTF-8 text"),
    ]:
        with pytest.raises(TargetFileError) as caught:
            load_target(path)
        assert (caught.value.path, caught.value.key) == (str(path), "")
        assert fragment in caught.value.problem


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM (as some editors write) does not break the file."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + doc().encode())
    assert load_target(path).name == "bom"


def test_error_message_names_file_key_and_problem() -> None:
    """The whole message reads `file: key: problem`, listing the known services."""
    services = SERVICES.replace('depends_on = ["auth"]', 'depends_on = ["auht"]')
    with pytest.raises(TargetFileError) as caught:
        parse_target(doc(services=services), source="targets/x.toml")
    assert str(caught.value) == (
        "targets/x.toml: services.backend.depends_on[0]: "
        "unknown service 'auht' (services: auth, backend)"
    )


def svc(extra: str, *, name: str = "auth") -> str:
    """SERVICES with lines added to one service's table."""
    header = f"[services.{name}]\n"
    return SERVICES.replace(header, header + extra + "\n")


def ses(extra: str) -> str:
    """SESSION with lines added to the [session] table."""
    return SESSION + extra + "\n"


MALFORMED = [
    # -- the file
    pytest.param(doc(top="auth = "), "", "invalid TOML", id="toml-syntax"),
    pytest.param(doc(top=TOP + "auht = 1"), "auht", "did you mean 'auth'", id="unknown-top"),
    pytest.param(doc(top='backend = "backend"'), "auth", "required key is missing", id="no-auth"),
    pytest.param(doc(top='auth = "auth"'), "backend", "required key is missing", id="no-backend"),
    pytest.param(doc(top='auth = 1\nbackend = "backend"'), "auth", "got integer 1", id="auth-type"),
    pytest.param(
        doc(top='auth = "auht"\nbackend = "backend"'),
        "auth",
        "unknown service 'auht' (services: auth, backend)",
        id="auth-unknown",
    ),
    pytest.param(
        doc(top='auth = "auth"\nbackend = "auth"'), "backend", "must differ", id="auth-is-backend"
    ),
    pytest.param(doc(top=TOP + "name = 3"), "name", "expected a string", id="name-type"),
    pytest.param(doc(services=""), "services", "required key is missing", id="no-services"),
    pytest.param(doc(services="services = {}"), "services", "no services", id="empty-services"),
    pytest.param(doc(services="services = 3"), "services", "got integer 3", id="services-type"),
    pytest.param(
        doc(services=SERVICES + '[services.Web]\ncommand = ["w"]'),
        "services.Web",
        "invalid service name",
        id="service-name",
    ),
    pytest.param(
        doc(services=SERVICES + "[services]\nweb = 1"),
        "services.web",
        "expected a table, got integer 1",
        id="service-type",
    ),
    # -- a service
    pytest.param(
        doc(services='[services.auth]\nport = 1\n[services.backend]\ncommand = ["b"]'),
        "services.auth.command",
        "required key is missing",
        id="no-command",
    ),
    pytest.param(
        doc(services=SERVICES.replace('["auth-server", "--port", "{port}"]', "[]")),
        "services.auth.command",
        "must not be empty",
        id="empty-command",
    ),
    pytest.param(
        doc(services=SERVICES.replace('"{port}"]', "8000]")),
        "services.auth.command[2]",
        "expected a string, got integer 8000",
        id="command-item",
    ),
    pytest.param(
        doc(services=SERVICES.replace('["auth-server", "--port", "{port}"]', '"auth-server"')),
        "services.auth.command",
        "expected a list of strings, got string 'auth-server'",
        id="command-type",
    ),
    pytest.param(
        doc(services=svc('comand = ["x"]')),
        "services.auth.comand",
        "unknown key 'comand' (did you mean 'command'?)",
        id="command-typo",
    ),
    pytest.param(
        doc(services=svc("port = 0")), "services.auth.port", "between 1 and 65535", id="port-0"
    ),
    pytest.param(
        doc(services=svc("port = 70000")), "services.auth.port", "got 70000", id="port-big"
    ),
    pytest.param(
        doc(services=svc('port = "fixed"')), "services.auth.port", 'expected "auto"', id="port-str"
    ),
    pytest.param(
        doc(services=svc("port = true")), "services.auth.port", "got boolean true", id="port-bool"
    ),
    pytest.param(
        doc(services=svc("port = 9000") + "port = 9000"),
        "services.backend.port",
        "also the address of service 'auth'",
        id="port-twice",
    ),
    pytest.param(
        doc(services=svc("start_timeout = 0")), "services.auth.start_timeout", "> 0", id="start-0"
    ),
    pytest.param(
        doc(services=svc("stop_timeout = -1.5")), "services.auth.stop_timeout", "> 0", id="stop-neg"
    ),
    pytest.param(
        doc(services=svc("start_timeout = nan")), "services.auth.start_timeout", "> 0", id="nan"
    ),
    pytest.param(
        doc(services=svc('start_timeout = "30"')),
        "services.auth.start_timeout",
        "expected a number of seconds, got string '30'",
        id="timeout-type",
    ),
    pytest.param(
        doc(services=svc("ready = {}")),
        "services.auth.ready",
        "exactly one of http, tcp, log (got none)",
        id="ready-none",
    ),
    pytest.param(
        doc(services=svc('ready = { http = "/", tcp = true }')),
        "services.auth.ready",
        "(got http and tcp)",
        id="ready-two",
    ),
    pytest.param(
        doc(services=svc('ready = "tcp"')),
        "services.auth.ready",
        "expected an inline table",
        id="ready-type",
    ),
    pytest.param(
        doc(services=svc('ready = { log = "ready (" }')),
        "services.auth.ready.log",
        "invalid regular expression",
        id="ready-regex",
    ),
    pytest.param(
        doc(services=svc('ready = { http = "health" }')),
        "services.auth.ready.http",
        "must start with '/'",
        id="ready-path",
    ),
    pytest.param(
        doc(services=svc("ready = { tcp = false }")),
        "services.auth.ready.tcp",
        "must be true",
        id="ready-tcp-false",
    ),
    pytest.param(
        doc(services=svc("ready = { tcp = true, status = 200 }")),
        "services.auth.ready.status",
        "only to http",
        id="ready-status-tcp",
    ),
    pytest.param(
        doc(services=svc('ready = { http = "/", status = 99 }')),
        "services.auth.ready.status",
        "between 100 and 599",
        id="ready-status",
    ),
    pytest.param(
        doc(services=svc('ready = { htp = "/" }')),
        "services.auth.ready.htp",
        "did you mean 'http'",
        id="ready-typo",
    ),
    pytest.param(
        doc(services=SERVICES.replace('["auth"]', '["auth", "auth"]')),
        "services.backend.depends_on[1]",
        "listed twice",
        id="depends-twice",
    ),
    pytest.param(
        doc(services=SERVICES.replace('["auth"]', '"auth"')),
        "services.backend.depends_on",
        "expected a list of service names",
        id="depends-type",
    ),
    pytest.param(
        doc(services=svc('depends_on = ["backend"]')),
        "services.backend.depends_on",
        "dependency cycle: auth -> backend -> auth",
        id="cycle",
    ),
    pytest.param(
        doc(services=svc('depends_on = ["auth"]')),
        "services.auth.depends_on",
        "dependency cycle: auth -> auth",
        id="self-cycle",
    ),
    pytest.param(
        doc(services=svc("env = { PORT = 1 }")),
        "services.auth.env.PORT",
        "expected a string, got integer 1",
        id="env-type",
    ),
    pytest.param(
        doc(services=svc('env = { "A-B" = "x" }')),
        "services.auth.env.A-B",
        "not a valid environment variable name",
        id="env-name",
    ),
    pytest.param(
        doc(services=SERVICES.replace('"{port}"', '"{prot}"')),
        "services.auth.command[2]",
        "unknown placeholder '{prot}' (did you mean '{port}'?",
        id="placeholder-typo",
    ),
    pytest.param(
        doc(services=SERVICES.replace("{services.auth.url}", "{services.auht.url}")),
        "services.backend.command[2]",
        "names unknown service 'auht' (services: auth, backend)",
        id="placeholder-service",
    ),
    pytest.param(
        doc(services=SERVICES.replace("{services.auth.url}", "{services.auth.pid}")),
        "services.backend.command[2]",
        "unknown placeholder '{services.auth.pid}'",
        id="placeholder-field",
    ),
    pytest.param(
        doc(services=SERVICES.replace('"{port}"', '"{port"')),
        "services.auth.command[2]",
        "lone '{'",
        id="placeholder-lone-brace",
    ),
    pytest.param(
        doc(services=svc('cwd = "{username}"')),
        "services.auth.cwd",
        "unknown placeholder '{username}'",
        id="placeholder-session-in-service",
    ),
    pytest.param(
        doc(services=svc('env = { X = "{env.}" }')),
        "services.auth.env.X",
        "unknown placeholder '{env.}'",
        id="placeholder-env-empty",
    ),
    pytest.param(
        doc(services=svc('host = ""')), "services.auth.host", "must not be empty", id="host-empty"
    ),
    # -- the session
    pytest.param(doc(session=""), "session", "required key is missing", id="no-session"),
    pytest.param(
        doc(session=SESSION.replace('login = { path = "/login" }\n', "")),
        "session.login",
        "required key is missing",
        id="no-login",
    ),
    pytest.param(
        doc(session=SESSION + "call = []"),
        "session.call",
        "did you mean 'calls'",
        id="session-typo",
    ),
    pytest.param(
        doc(session=SESSION.replace('[{ path = "/api/me" }]', "[]")),
        "session.calls",
        "at least one call",
        id="calls-empty",
    ),
    pytest.param(
        doc(session=SESSION.replace('[{ path = "/api/me" }]', '{ path = "/api/me" }')),
        "session.calls",
        "expected a list of request tables",
        id="calls-type",
    ),
    pytest.param(
        doc(session=SESSION.replace('{ path = "/api/me" }', "{ method = 'GET' }")),
        "session.calls[0].path",
        "required key is missing",
        id="call-no-path",
    ),
    pytest.param(
        doc(session=SESSION.replace('"/api/me"', '"api/me"')),
        "session.calls[0].path",
        "must start with '/'",
        id="call-path",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", method = "FETCH"')),
        "session.calls[0].method",
        "'FETCH' is not allowed (allowed: GET, POST, PUT, PATCH, DELETE)",
        id="method",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", expect = 42')),
        "session.calls[0].expect",
        "between 100 and 599, got 42",
        id="expect",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", expect = [200, "ok"]')),
        "session.calls[0].expect[1]",
        "expected an HTTP status",
        id="expect-item",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", expect = []')),
        "session.calls[0].expect",
        "at least one status",
        id="expect-empty",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", token = "t"')),
        "session.calls[0].token",
        "unknown key 'token'",
        id="token-on-a-call",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/login", service = "db"')),
        "session.login.service",
        "unknown service 'db' (services: auth, backend)",
        id="request-service",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/login", tokn = "t"')),
        "session.login.tokn",
        "did you mean 'token'",
        id="login-typo",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/login", refresh_token = true')),
        "session.login.refresh_token",
        "expected a dotted path or false",
        id="refresh-token-true",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/login", token = "a..b"')),
        "session.login.token",
        "empty part",
        id="token-dotted",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/l", json = { u = "{user}" }')),
        "session.login.json.u",
        "unknown placeholder '{user}' (did you mean '{username}'?",
        id="json-placeholder",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/l", json = { a = [1, "{x}"] }')),
        "session.login.json.a[1]",
        "unknown placeholder '{x}'",
        id="json-nested-placeholder",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/l", json = { at = 1979-05-27 }')),
        "session.login.json.at",
        "cannot be sent as JSON",
        id="json-date",
    ),
    pytest.param(
        doc(session=SESSION.replace('"/api/me"', '"/api/{me}"')),
        "session.calls[0].path",
        "unknown placeholder '{me}'",
        id="path-placeholder",
    ),
    pytest.param(
        doc(session=SESSION.replace('"/api/me"', '"/api/me}"')),
        "session.calls[0].path",
        "lone '}'",
        id="path-lone-brace",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", headers = { X = "{nn}" }')),
        "session.calls[0].headers.X",
        "did you mean '{n}'",
        id="header-placeholder",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/api/me"', 'path = "/a", headers = { "a b" = "" }')),
        "session.calls[0].headers.a b",
        "not a valid HTTP header name",
        id="header-name",
    ),
    pytest.param(
        doc(session=SESSION.replace('path = "/login"', 'path = "/l", json = { x = inf }')),
        "session.login.json.x",
        "not a JSON number",
        id="json-inf",
    ),
    pytest.param(
        doc(session=ses('websocket = { send = "x" }')),
        "session.websocket.path",
        "required key is missing",
        id="ws-no-path",
    ),
    pytest.param(
        doc(session=ses('websocket = { path = "/ws" }')),
        "session.websocket.send",
        "required key is missing",
        id="ws-no-send",
    ),
    pytest.param(
        doc(session=ses('websocket = { path = "/ws", send = "x", service = "ws" }')),
        "session.websocket.service",
        "unknown service 'ws'",
        id="ws-service",
    ),
    pytest.param(
        doc(session=ses('websocket = { path = "/ws", send = { id = "{ident}" } }')),
        "session.websocket.send.id",
        "unknown placeholder '{ident}'",
        id="ws-send-placeholder",
    ),
    pytest.param(
        doc(session=ses("password = 1")),
        "session.password",
        "expected a string, got integer 1",
        id="password-type",
    ),
    # -- health and keys
    pytest.param(doc(top=TOP + "health = 1"), "health", "expected a table", id="health-type"),
    pytest.param(
        doc(extra='[health]\nservice = "db"'),
        "health.service",
        "unknown service 'db'",
        id="health-service",
    ),
    pytest.param(
        doc(extra='[health]\nbreaker_path = "x"'),
        "health.breaker_path",
        "did you mean 'breaker'",
        id="health-typo",
    ),
    pytest.param(
        doc(extra='[keys]\npath = "jwks.json"'),
        "keys.path",
        "must start with '/'",
        id="keys-path",
    ),
    pytest.param(
        doc(extra='[keys]\nservice = "backnd"'),
        "keys.service",
        "unknown service 'backnd'",
        id="keys-service",
    ),
]


@pytest.mark.parametrize(("text", "key", "fragment"), MALFORMED)
def test_malformed_files_are_refused(text: str, key: str, fragment: str) -> None:
    """Each malformed file raises TargetFileError at the exact key, saying what is wrong."""
    with pytest.raises(TargetFileError) as caught:
        parse_target(text, source="bad.toml")
    error = caught.value
    assert (error.path, error.key) == ("bad.toml", key), error.problem
    assert fragment in error.problem
    assert str(error).startswith(f"bad.toml: {key}: " if key else "bad.toml: ")


def test_toml_syntax_errors_say_where() -> None:
    """tomllib's line and column reach the message."""
    with pytest.raises(TargetFileError) as caught:
        parse_target('name = "x"\nauth = \n', source="bad.toml")
    assert "line 2" in caught.value.problem


def test_deep_nesting_is_refused_not_crashed() -> None:
    """A document nested past the parser's recursion limit is a file-level error."""
    with pytest.raises(TargetFileError) as caught:
        parse_target("x = " + "[" * 100_000 + "]" * 100_000, source="deep.toml")
    assert (caught.value.key, caught.value.problem) == ("", "nested too deeply")


def test_literal_braces_are_not_placeholders() -> None:
    """`{{` and `}}` are literal braces, anywhere templates are allowed."""
    session = SESSION.replace('path = "/api/me"', 'path = "/a", json = { t = "{{n}}" }')
    target = parse_target(doc(session=session), source="t.toml")
    assert target.session.calls[0].json == {"t": "{{n}}"}


# ---------------------------------------------------------------- robustness
def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = (
        f"\\u{ord(c):04x}" if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text
    )
    return '"' + "".join(escaped) + '"'


def toml_value(value: Any) -> str:
    """A value as inline TOML (tables inline, so any nesting fits on one line)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    return toml_scalar(value)


def toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    return str(value.isoformat())  # a date


def toml_document(document: dict[str, Any]) -> str:
    return "\n".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in document.items())


KEYS = sorted(
    {
        *("name", "auth", "backend", "services", "session", "health", "keys", "command"),
        *("env", "host", "port", "ready", "http", "tcp", "log", "status", "depends_on"),
        *("start_timeout", "stop_timeout", "cwd", "login", "backend_login", "calls"),
        *("register", "refresh", "websocket", "open_call", "path", "method", "json"),
        *("headers", "expect", "token", "refresh_token", "send", "reply_id", "service"),
        *("username_prefix", "password", "breaker", "open", "closed", "ready_path"),
    }
)
SCALARS = (
    st.booleans()
    | st.integers(min_value=-5, max_value=70_000)
    | st.floats()
    | st.sampled_from(
        ["auth", "backend", "/x", "{port}", "{services.auth.url}", "{", "{username}", "POST"]
    )
    | st.sampled_from(["auto", "(", "{env.HOME}", "a..b", "", "{{", "GET"])
    | st.text(max_size=6)
    | st.just(dt.date(2024, 1, 2))
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=25,
)


def parses_or_refuses(text: str) -> None:
    """parse_target returns a Target or raises TargetFileError about this file."""
    result: Target | TargetFileError
    try:
        result = parse_target(text, source="fuzz.toml")
    except TargetFileError as error:
        result = error
    if isinstance(result, TargetFileError):
        assert result.path == "fuzz.toml"
        assert result.problem
    else:
        assert isinstance(result, Target)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8))
def test_random_documents_never_crash(document: dict[str, Any]) -> None:
    """Any TOML document either loads or raises TargetFileError, never another error."""
    parses_or_refuses(toml_document(document))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (dict keys and list indexes) into a parsed document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_reference_files_never_crash(data: st.DataObject) -> None:
    """The reference file with values replaced or removed loads or is refused cleanly."""
    document = tomllib.loads(reference_text())
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = data.draw(st.sampled_from(paths(document)))
        parent = document
        for step in where[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(VALUES)
        if not document:
            break
    parses_or_refuses(toml_document(document))
