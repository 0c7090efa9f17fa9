"""Session clients: users of a target, over real HTTP and WebSocket connections."""

from authdrill.session._client import Answer, SessionClient, dotted, new_http_session

__all__ = ["Answer", "SessionClient", "dotted", "new_http_session"]
