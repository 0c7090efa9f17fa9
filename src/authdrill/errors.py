"""The one exception tree of authdrill.

Every error authdrill raises on purpose derives from :class:`AuthdrillError`, and each
carries the context a person needs to act on it (which file and key, which service and
port, which exit code and output tail). Foreign exceptions are translated once, at the
boundary where they occur (``raise X(...) from exc``).

::

    AuthdrillError
    ├── ConfigError ............ a bad flag, environment variable or configuration value
    │   └── TargetFileError .... a target description file that is malformed/inconsistent
    ├── ServiceError ........... something about one named service
    │   ├── PortInUseError ..... the port a service must listen on is already taken
    │   ├── ServiceStartError .. a service exited, or was not ready by its deadline
    │   └── ServiceStopError ... a service could not be stopped or signalled
    ├── DatabaseError .......... a database could not be opened, reached or migrated
    ├── KeyStoreError .......... signing keys could not be read, written or parsed
    ├── InvalidTokenError ...... a token failed verification (reason code + detail)
    └── SessionError ........... a session client call failed (harness side)
        ├── LoginError ......... a login was refused or could not be made
        └── WebSocketError ..... a WebSocket could not be opened, or broke
"""

from __future__ import annotations

__all__ = [
    "AuthdrillError",
    "ConfigError",
    "DatabaseError",
    "InvalidTokenError",
    "KeyStoreError",
    "LoginError",
    "PortInUseError",
    "ServiceError",
    "ServiceStartError",
    "ServiceStopError",
    "SessionError",
    "TargetFileError",
    "WebSocketError",
]


class AuthdrillError(Exception):
    """Base class of every error authdrill raises on purpose."""


class ConfigError(AuthdrillError):
    """A configuration value is invalid.

    Attributes:
        key: the flag, environment variable or configuration key at fault.
        problem: what is wrong with it, in words.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class TargetFileError(ConfigError):
    """A target description file is malformed or inconsistent.

    Attributes:
        path: the file.
        key: the dotted key at fault (``services.auth.ready``), or ``""`` for the file.
        problem: what is wrong.
    """

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        super().__init__(key, problem)
        where = f"{path}: {key}" if key else path
        self.args = (f"{where}: {problem}",)


class ServiceError(AuthdrillError):
    """Something went wrong with one named service.

    Attributes:
        service: the service's name (``auth``, ``backend``, ...).
    """

    def __init__(self, service: str, message: str) -> None:
        self.service = service
        super().__init__(f"{service}: {message}")


class PortInUseError(ServiceError):
    """The address a service must listen on is already taken."""

    def __init__(self, service: str, host: str, port: int) -> None:
        self.host = host
        self.port = port
        super().__init__(service, f"cannot listen on {host}:{port}: address already in use")


class ServiceStartError(ServiceError):
    """A service did not become ready.

    Attributes:
        exit_code: the child's exit code if it exited, else ``None`` (deadline passed).
        output_tail: the last lines the child wrote (stdout and stderr interleaved).
        last_probe_error: why the readiness probe last failed, if it ran.
    """

    def __init__(
        self,
        service: str,
        reason: str,
        *,
        exit_code: int | None = None,
        output_tail: str = "",
        last_probe_error: str | None = None,
    ) -> None:
        self.reason = reason
        self.exit_code = exit_code
        self.output_tail = output_tail
        self.last_probe_error = last_probe_error
        parts = [reason]
        if exit_code is not None:
            parts.append(f"exit code {exit_code}")
        if last_probe_error:
            parts.append(f"last probe error: {last_probe_error}")
        message = "; ".join(parts)
        if output_tail:
            message += "\n--- last output ---\n" + output_tail.rstrip("\n")
        super().__init__(service, message)


class ServiceStopError(ServiceError):
    """A service could not be stopped, killed or signalled."""


class DatabaseError(AuthdrillError):
    """A database could not be opened, reached or migrated.

    Attributes:
        url: the database URL with any password redacted.
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"database {url}: {problem}")


class KeyStoreError(AuthdrillError):
    """Signing keys could not be read, written or parsed.

    Attributes:
        path: the file or directory at fault.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"key store {path}: {problem}")


class InvalidTokenError(AuthdrillError):
    """A token failed verification.

    Attributes:
        reason: a short machine-readable code (``expired``, ``bad_signature``,
            ``unknown_key``, ``malformed``, ...), safe to return to clients.
        detail: words for the logs; may say more than a client should see.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail or reason
        super().__init__(f"{reason}: {self.detail}" if detail else reason)


class SessionError(AuthdrillError):
    """A session client call failed.

    Attributes:
        kind: what went wrong: ``refused`` (no connection), ``timeout``, ``status``
            (an unexpected HTTP status), ``protocol`` (an answer of the wrong shape),
            ``closed`` (the WebSocket closed), ``mismatch`` (a reply to another request),
            ``transport`` (any other network failure).
        status: the HTTP status or WebSocket close code seen, if any.
    """

    def __init__(self, message: str, *, kind: str = "transport", status: int | None = None) -> None:
        self.kind = kind
        self.status = status
        super().__init__(message)


class LoginError(SessionError):
    """A login (or refresh) was refused, or could not be made.

    Attributes:
        retry_after: the ``Retry-After`` header of the answer, if any.
        json_error: whether the answer's body was a JSON object with an ``error``.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "status",
        status: int | None = None,
        retry_after: str | None = None,
        json_error: bool = False,
    ) -> None:
        self.retry_after = retry_after
        self.json_error = json_error
        super().__init__(message, kind=kind, status=status)


class WebSocketError(SessionError):
    """A WebSocket could not be opened, broke, or answered the wrong thing.

    Attributes:
        close_code: the close code, if the socket was closed with one (also ``status``,
            unless the handshake itself failed: then ``status`` is the HTTP status).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "closed",
        close_code: int | None = None,
        status: int | None = None,
    ) -> None:
        self.close_code = close_code
        super().__init__(message, kind=kind, status=close_code if status is None else status)
