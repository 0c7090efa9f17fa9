"""Strict JSON bodies, log redaction, client addresses and database URLs (pure helpers)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from authdrill.errors import ConfigError
from authdrill.stack.auth.app import client_address
from authdrill.stack.db import normalize_url, redact_url
from authdrill.stack.http import Problem, parse_json_object, string_field
from authdrill.stack.logs import RedactingFilter, redact

JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz"
JWE = "eyJhbGciOiJSU0EtT0FFUCJ9.ZW5j.aXY.Y2lwaGVy.dGFn"


# ------------------------------------------------------------------ JSON bodies


def test_parse_json_object_returns_the_object() -> None:
    """A JSON object body parses to a dict."""
    assert parse_json_object(b'{"username": "alice", "n": [1]}') == {"username": "alice", "n": [1]}


@pytest.mark.parametrize(
    "body", [b"", b"{", b"not json", b"\xff\xfe\x00", b"[]", b'"text"', b"1", b"null", b"true"]
)
def test_parse_json_object_rejects_non_objects_with_400(body: bytes) -> None:
    """Malformed JSON, bad UTF-8, or JSON that is not an object is a 400."""
    with pytest.raises(Problem) as info:
        parse_json_object(body)
    assert (info.value.status, info.value.code) == (400, "malformed_json")


def test_huge_integer_body_is_a_400() -> None:
    """A body holding an over-long integer literal is a 400, not a 500."""
    with pytest.raises(Problem) as info:
        parse_json_object(b'{"n": ' + b"1" * 5000 + b"}")
    assert info.value.status == 400


def test_deeply_nested_body_is_a_400() -> None:
    """A 16 KiB body of nested arrays is a 400, not a 500."""
    with pytest.raises(Problem) as info:
        parse_json_object(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "'username' is required"),
        ({"username": None}, "'username' is required"),
        ({"username": 5}, "'username' must be a string"),
        ({"username": ["alice"]}, "'username' must be a string"),
        ({"username": ""}, "'username' must not be empty"),
        ({"username": "x" * 11}, "'username' is longer than 10"),
    ],
)
def test_string_field_rejections(body: dict[str, Any], fragment: str) -> None:
    """Missing, non-string, empty or over-long members are a 400 naming the member."""
    with pytest.raises(Problem) as info:
        string_field(body, "username", max_length=10)
    assert (info.value.status, info.value.code) == (400, "invalid_request")
    assert fragment in info.value.message


def test_string_field_accepts_up_to_max_length() -> None:
    """A string of exactly max_length is returned unchanged."""
    assert string_field({"username": " " * 10}, "username", max_length=10) == " " * 10


# ------------------------------------------------------------------ redaction


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {JWT} rejected", JWT),
        (f"jwe={JWE}", JWE),
        (f"Authorization: Bearer {JWT}", JWT),
        ("Authorization: Bearer opaque-credential-123", "opaque-credential-123"),
        ("authorization: bearer opaque-credential-123", "opaque-credential-123"),
        ('{"username": "alice", "password": "hunter2hunter2"}', "hunter2hunter2"),
        ("{'password': 'hunter2hunter2'}", "hunter2hunter2"),
        ("password=hunter2hunter2&user=alice", "hunter2hunter2"),
        ('{"refresh_token":"rt_0123456789abcdef"}', "rt_0123456789abcdef"),
        ('{"access_token": "opaque-access"}', "opaque-access"),
        ('{"PASSWORD": "Hunter2Hunter2"}', "Hunter2Hunter2"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    """JWT-shaped strings, Bearer credentials and password/token values are removed."""
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[redacted" in cleaned


def test_redact_keeps_the_surrounding_text() -> None:
    """Only the secret is replaced; the rest of the line survives."""
    assert redact('{"username": "alice", "password": "hunter2"}') == (
        '{"username": "alice", "password": "[redacted]"}'
    )
    assert redact(f"bad token {JWT} from 10.0.0.1") == "bad token [redacted-jwt] from 10.0.0.1"


@pytest.mark.parametrize(
    "text",
    [
        "user alice logged in from 10.0.0.1",
        "GET /api/me 200 1.2 ms",
        "key set now has kids ['NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs']",
        "eyes on the prize",
        "3 tokens issued, 0 passwords changed",
        "",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    """Text without secrets comes back unchanged."""
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        '{"password": "correct horse battery staple"}',
        '{"password": "pass,word-secret"}',
        '{"password": "pa\\"ss-secret"}',
    ],
)
def test_redact_removes_whole_password_values(text: str) -> None:
    """No part of a password value survives redaction."""
    cleaned = redact(text)
    for word in ("horse", "battery", "staple", "word-secret", "ss-secret"):
        assert word not in cleaned


def make_record(msg: str, args: Any = None, exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_filter_redacts_a_message_built_from_args() -> None:
    """A secret passed as a %-argument does not reach the formatted line."""
    record = make_record("refusing %s for %s", (JWT, "alice"))
    assert RedactingFilter().filter(record) is True
    line = logging.Formatter("%(message)s").format(record)
    assert line == "refusing [redacted-jwt] for alice"


def test_filter_leaves_clean_records_untouched() -> None:
    """A record without secrets keeps its msg and args as they were."""
    args = ("alice", 3)
    record = make_record("user %s failed %d times", args)
    assert RedactingFilter().filter(record) is True
    assert record.msg == "user %s failed %d times"
    assert record.args is args


def test_filter_redacts_the_exception_text() -> None:
    """A traceback quoting a token is redacted and still shown."""
    try:
        raise ValueError(f"could not parse {JWT} from body")  # noqa: TRY301 - a real exc_info
    except ValueError:
        record = make_record("request failed", exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    output = logging.Formatter("%(message)s").format(record)
    assert JWT not in output
    assert "ValueError: could not parse [redacted-jwt] from body" in output
    assert "Traceback" in output


# ------------------------------------------------------------------ client address


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("10.0.0.5", None, (), "10.0.0.5"),
        ("10.0.0.5", "1.2.3.4", (), "10.0.0.5"),  # untrusted peer: header ignored
        ("10.0.0.5", "1.2.3.4", ("10.0.0.9",), "10.0.0.5"),
        ("10.0.0.9", "1.2.3.4", ("10.0.0.9",), "1.2.3.4"),
        ("10.0.0.9", "6.6.6.6, 1.2.3.4", ("10.0.0.9",), "1.2.3.4"),  # last hop wins
        ("10.0.0.9", " 6.6.6.6 ,1.2.3.4 , ", ("10.0.0.9",), "1.2.3.4"),
        ("10.0.0.9", " , ", ("10.0.0.9",), "10.0.0.9"),  # no usable hop
        ("10.0.0.9", "", ("10.0.0.9",), "10.0.0.9"),
        (None, None, (), "unknown"),
        (None, "1.2.3.4", (), "unknown"),
    ],
)
def test_client_address(
    peer: str | None, forwarded: str | None, trusted: tuple[str, ...], expected: str
) -> None:
    """X-Forwarded-For is believed only from a trusted peer, and only its last hop."""
    assert client_address(peer, forwarded, trusted) == expected


# ------------------------------------------------------------------ database URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/auth.db", "sqlite+aiosqlite:///data/auth.db"),
        ("sqlite:////abs/auth.db", "sqlite+aiosqlite:////abs/auth.db"),
        ("sqlite+pysqlite:///auth.db", "sqlite+aiosqlite:///auth.db"),
        ("postgresql://u:p@db:5432/auth", "postgresql+asyncpg://u:p@db:5432/auth"),
        ("postgresql+psycopg2://u@db/auth", "postgresql+asyncpg://u@db/auth"),
        ("postgres://u:p@db/auth", "postgresql+asyncpg://u:p@db/auth"),
    ],
)
def test_normalize_url_adds_the_async_driver(url: str, expected: str) -> None:
    """SQLite gets aiosqlite and PostgreSQL asyncpg, password kept for connecting."""
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:p@db/auth",
        "oracle://db/auth",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url",
        "",
    ],
)
def test_normalize_url_rejects_unsupported(url: str) -> None:
    """Other databases, in-memory SQLite and non-URLs are ConfigErrors on --database-url."""
    with pytest.raises(ConfigError) as info:
        normalize_url(url)
    assert info.value.key == "--database-url"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://u:s3cret@db/auth", "postgresql+asyncpg://u:***@db/auth"),
        ("postgresql://u:p%40ss@db:5432/auth", "postgresql://u:***@db:5432/auth"),
        ("postgresql://u@db/auth", "postgresql://u@db/auth"),
        ("sqlite+aiosqlite:///data/auth.db", "sqlite+aiosqlite:///data/auth.db"),
        ("::::", "<unparseable database URL>"),
    ],
)
def test_redact_url_hides_the_password(url: str, expected: str) -> None:
    """The password is replaced by *** and an unparseable URL is not echoed."""
    assert redact_url(url) == expected
