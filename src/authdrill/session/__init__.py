"""Session clients: users of a target, over real HTTP and WebSocket connections."""

from authdrill.session._client import SessionClient, dotted

__all__ = ["SessionClient", "dotted"]
