"""HTTP plumbing shared by the stack services: one error shape, strict bodies.

Every error response is JSON ``{"error": "<code>", "message": "<words>"}`` with a
status that says whose fault it was. A malformed body is a 4xx naming the problem,
never a 500; an unexpected exception is a generic 500 whose details go to the log only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "MAX_JSON_BODY",
    "Problem",
    "error_response",
    "exception_handlers",
    "json_response",
    "parse_json_object",
    "read_body",
    "read_json_object",
    "string_field",
]

MAX_JSON_BODY = 16 * 1024
log = logging.getLogger("authdrill.http")


class Problem(Exception):  # noqa: N818 - an HTTP problem response, not an error of ours
    """Raised inside a handler to answer with a JSON error.

    Attributes:
        status: the HTTP status.
        code: a short machine-readable code.
        message: words for the client (never secrets, never internals).
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A compact JSON response."""
    body = json.dumps(content, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The JSON error shape every endpoint uses."""
    return json_response({"error": code, "message": message}, status, headers)


async def read_body(request: Request, *, max_bytes: int = MAX_JSON_BODY) -> bytes:
    """Read a JSON request's body, at most ``max_bytes``.

    Raises:
        Problem: 415 when not declared as JSON, 413 when over ``max_bytes``.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise Problem(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise Problem(413, "body_too_large", f"body is over {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise Problem(413, "body_too_large", f"body is over {max_bytes} bytes")
    return bytes(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse ``body`` as a JSON object.

    Raises:
        Problem: 400 when malformed or not an object.
    """
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise Problem(400, "malformed_json", f"body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError):  # not UTF-8, an over-long integer, deep nesting
        raise Problem(400, "malformed_json", "body is not acceptable JSON") from None
    if not isinstance(value, dict):
        raise Problem(400, "malformed_json", "body must be a JSON object")
    return value


async def read_json_object(request: Request, *, max_bytes: int = MAX_JSON_BODY) -> dict[str, Any]:
    """Read the request body as a JSON object (see :func:`read_body`, :func:`parse_json_object`)."""
    return parse_json_object(await read_body(request, max_bytes=max_bytes))


def string_field(body: Mapping[str, Any], name: str, *, max_length: int) -> str:
    """A required, non-empty string member of ``body`` no longer than ``max_length``.

    Raises:
        Problem: 400 naming the member and what is wrong with it.
    """
    value = body.get(name)
    if value is None:
        raise Problem(400, "invalid_request", f"{name!r} is required")
    if not isinstance(value, str):
        raise Problem(400, "invalid_request", f"{name!r} must be a string")
    if not value:
        raise Problem(400, "invalid_request", f"{name!r} must not be empty")
    if len(value) > max_length:
        raise Problem(400, "invalid_request", f"{name!r} is longer than {max_length}")
    return value


async def _on_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the service log")


def exception_handlers() -> dict[Any, Any]:
    """Handlers that turn every failure into the JSON error shape."""
    return {Problem: _on_problem, HTTPException: _on_http_exception, Exception: _on_unexpected}
