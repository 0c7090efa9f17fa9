"""Rendering targets: templates filled, ports allocated, service specs built in order."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from authdrill.errors import ConfigError
from authdrill.process import HttpProbe, LogProbe, TcpProbe
from authdrill.target import (
    Target,
    allocate_ports,
    builtin_target,
    fill,
    parse_target,
    render_services,
    service_urls,
)

RUN_DIR = Path("/runs/r1")


def counting_ports(start: int = 41000) -> Callable[[str], int]:
    """A stand-in for free_port handing out consecutive ports."""
    counter = itertools.count(start)
    return lambda _host: next(counter)


def target_with(services: str, *, auth: str = "auth", backend: str = "backend") -> Target:
    """A target with the given [services.*] tables and a minimal session."""
    text = f"""
auth = "{auth}"
backend = "{backend}"
{services}
[session]
login = {{ path = "/login" }}
backend_login = {{ path = "/api/login" }}
calls = [{{ path = "/api/me" }}]
"""
    return parse_target(text, source="/etc/drills/t.toml")


# ---------------------------------------------------------------- fill
def test_fill_keeps_the_type_of_a_lone_placeholder() -> None:
    """A string that is exactly one placeholder becomes the value itself."""
    assert fill("{n}", {"n": 7}, key="k") == 7
    assert fill({"id": "{id}"}, {"id": 12}, key="send") == {"id": 12}


def test_fill_interpolates_with_str() -> None:
    """Placeholders inside longer strings are interpolated with str()."""
    assert fill("note {n} by {username}", {"n": 3, "username": "ann"}, key="k") == "note 3 by ann"
    assert fill("{n}{n}", {"n": 1}, key="k") == "11"


def test_fill_unescapes_double_braces() -> None:
    """`{{` and `}}` become literal braces and are never placeholders."""
    assert fill("{{n}} is {n}", {"n": 2}, key="k") == "{n} is 2"
    assert fill("{{{n}}}", {"n": 2}, key="k") == "{2}"
    assert fill("{{}}", {}, key="k") == "{}"


def test_fill_walks_nested_values_and_keeps_the_rest() -> None:
    """Dicts and lists are filled at any depth; keys and non-strings are kept."""
    template = {"{n}": ["{n}", {"deep": "x{n}"}, 1.5, True, None], "t": ("{n}",)}
    assert fill(template, {"n": 4}, key="json") == {
        "{n}": [4, {"deep": "x4"}, 1.5, True, None],
        "t": (4,),
    }


def test_fill_does_not_change_its_input() -> None:
    """The template is not modified: it is reused for every request."""
    template = {"a": ["{n}"]}
    fill(template, {"n": 1}, key="json")
    assert template == {"a": ["{n}"]}


@pytest.mark.parametrize(
    ("template", "key", "fragment"),
    [
        ("{nn}", "path", "unknown placeholder '{nn}' (did you mean '{n}'?"),
        ({"a": [1, "x{nope}"]}, "json.a[1]", "unknown placeholder '{nope}'"),
        ("a } b", "path", "lone '}'"),
    ],
)
def test_fill_refuses_unknown_placeholders(template: object, key: str, fragment: str) -> None:
    """An unknown placeholder or a lone brace is a ConfigError at the nested key."""
    with pytest.raises(ConfigError) as caught:
        fill(template, {"n": 1, "id": "x"}, key=key.split(".", maxsplit=1)[0])
    assert caught.value.key == key
    assert fragment in caught.value.problem


# ---------------------------------------------------------------- ports and URLs
def test_allocate_ports_keeps_fixed_ports_and_fills_auto_ones() -> None:
    """Fixed ports are kept; "auto" ports come from free(host), in file order."""
    target = target_with(
        """
[services.auth]
command = ["a"]
port = 9100
[services.backend]
command = ["b"]
host = "::1"
[services.worker]
command = ["w"]
"""
    )
    asked: list[str] = []

    def free(host: str) -> int:
        asked.append(host)
        return 41000 + len(asked)

    assert allocate_ports(target, free) == {"auth": 9100, "backend": 41001, "worker": 41002}
    assert asked == ["::1", "127.0.0.1"]


def test_allocate_ports_never_hands_out_a_port_twice() -> None:
    """A free port that another service already has is asked for again."""
    target = target_with(
        '[services.auth]\ncommand = ["a"]\nport = 9100\n[services.backend]\ncommand = ["b"]'
    )
    answers = iter([9100, 9100, 9200])
    assert allocate_ports(target, lambda _host: next(answers)) == {"auth": 9100, "backend": 9200}
    with pytest.raises(ConfigError) as caught:
        allocate_ports(target, lambda _host: 9100)
    assert caught.value.key == "services.backend.port"


def test_service_urls_bracket_ipv6_hosts() -> None:
    """URLs are http://host:port, with IPv6 hosts in brackets."""
    target = target_with(
        '[services.auth]\ncommand = ["a"]\nhost = "::1"\n[services.backend]\ncommand = ["b"]'
    )
    assert service_urls(target, {"auth": 1, "backend": 2}) == {
        "auth": "http://[::1]:1",
        "backend": "http://127.0.0.1:2",
    }


# ---------------------------------------------------------------- render_services
def test_render_reference_fills_ports_urls_and_data_dirs() -> None:
    """The reference backend gets its own port and auth's URL; each has its data dir."""
    target = builtin_target()
    ports = {"auth": 41001, "backend": 41002}
    auth, backend = render_services(
        target, run_dir=RUN_DIR, ports=ports, python="/usr/bin/python3", environ={}
    )
    assert auth.name == "auth"
    assert auth.argv == (
        *("/usr/bin/python3", "-m", "authdrill.stack.auth", "--host", "127.0.0.1"),
        *("--port", "41001", "--data-dir", str(RUN_DIR / "data" / "auth")),
        *("--trusted-proxy", "127.0.0.1"),
    )
    assert backend.argv[-4:] == (
        *("--data-dir", str(RUN_DIR / "data" / "backend")),
        *("--auth-url", "http://127.0.0.1:41001"),
    )
    assert "41002" in backend.argv
    assert (backend.host, backend.port, backend.url) == (
        "127.0.0.1",
        41002,
        "http://127.0.0.1:41002",
    )
    assert backend.ready == HttpProbe(path="/health/ready", status=200)
    assert (backend.start_timeout_s, backend.stop_timeout_s, backend.cwd) == (30.0, 5.0, None)


def test_render_follows_dependency_order() -> None:
    """Services start dependencies first, whatever the file order."""
    target = target_with(
        """
[services.backend]
command = ["b", "{services.auth.port}"]
depends_on = ["auth", "db"]
[services.auth]
command = ["a"]
depends_on = ["db"]
[services.db]
command = ["d"]
"""
    )
    ports = allocate_ports(target, counting_ports())
    specs = render_services(target, run_dir=RUN_DIR, ports=ports, python="py", environ={})
    assert [spec.name for spec in specs] == ["db", "auth", "backend"]
    assert specs[2].argv == ("b", str(ports["auth"]))


def test_render_fills_env_probes_cwd_and_timeouts() -> None:
    """Env values, cwd (relative to the target file), probes and timeouts are rendered."""
    target = target_with(
        """
[services.auth]
command = ["a", "--db", "{env.DB_URL}"]
env = { TOKEN_DIR = "{data_dir}/keys", HOME_AGAIN = "{env.HOME}", RUN = "{run_dir}" }
cwd = "services/{host}"
ready = { log = "listening on \\\\d+" }
start_timeout = 12
stop_timeout = 0.5
[services.backend]
command = ["b"]
ready = { tcp = true }
cwd = "/srv/backend"
"""
    )
    environ = {"DB_URL": "sqlite:///x.db", "HOME": "/home/ann"}
    auth, backend = render_services(
        target, run_dir=RUN_DIR, ports={"auth": 1, "backend": 2}, python="py", environ=environ
    )
    assert auth.argv == ("a", "--db", "sqlite:///x.db")
    assert auth.env == {
        "TOKEN_DIR": f"{RUN_DIR / 'data' / 'auth'}/keys",
        "HOME_AGAIN": "/home/ann",
        "RUN": str(RUN_DIR),
    }
    assert auth.cwd == Path("/etc/drills/services/127.0.0.1")
    assert auth.ready == LogProbe("listening on \\d+")
    assert (auth.start_timeout_s, auth.stop_timeout_s) == (12.0, 0.5)
    assert backend.cwd == Path("/srv/backend")
    assert backend.ready == TcpProbe()


def test_render_names_a_missing_environment_variable() -> None:
    """An {env.X} whose X is not set is a ConfigError naming X and the key."""
    target = target_with(
        '[services.auth]\ncommand = ["a"]\nenv = { URL = "{env.AUTH_DB}" }\n'
        '[services.backend]\ncommand = ["b"]'
    )
    with pytest.raises(ConfigError) as caught:
        render_services(
            target, run_dir=RUN_DIR, ports={"auth": 1, "backend": 2}, python="py", environ={}
        )
    assert caught.value.key == "services.auth.env.URL"
    assert "'AUTH_DB' is not set" in caught.value.problem


def test_render_needs_a_port_for_every_service() -> None:
    """Ports missing from the mapping are a ConfigError, not a KeyError."""
    with pytest.raises(ConfigError) as caught:
        render_services(builtin_target(), run_dir=RUN_DIR, ports={}, python="py", environ={})
    assert caught.value.key == "services.auth.port"


def test_render_refuses_a_malformed_hand_built_template() -> None:
    """A Target built in code (not loaded) with a lone brace fails with the key, no crash."""
    target = builtin_target()
    auth = dataclasses.replace(target.services["auth"], command=("a", "{port"))
    broken = dataclasses.replace(target, services={**target.services, "auth": auth})
    with pytest.raises(ConfigError) as caught:
        render_services(
            broken, run_dir=RUN_DIR, ports={"auth": 1, "backend": 2}, python="py", environ={}
        )
    assert caught.value.key == "services.auth.command[1]"
    assert "lone '{'" in caught.value.problem
