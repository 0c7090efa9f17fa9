"""Broken: a backend that asks auth about every token.

Instead of verifying locally against a cached key set, every authenticated request
fetches auth's keys first (no cache, no breaker). Works while auth is up; when auth
dies, every logged-in user is locked out. The auth-outage drill fails at *persist*.
"""

from __future__ import annotations

import sys
import time

import httpx
from starlette.requests import Request

from authdrill.errors import InvalidTokenError
from authdrill.stack import jose
from authdrill.stack.backend.app import BackendService, open_backend
from authdrill.stack.backend.settings import BackendSettings
from authdrill.stack.backend.ws import bearer_token
from authdrill.stack.claims import AccessClaims, ClaimPolicy, validate_access_claims
from authdrill.stack.http import Problem
from authdrill.stack.jwk import parse_jwks
from authdrill.stack.server import serve_main

__all__ = ["RemoteValidationBackend"]


def _verify(token: str, document: object, settings: BackendSettings) -> AccessClaims:
    """Verify ``token`` against the key set auth just served."""
    keys = parse_jwks(document).keys
    jws = jose.parse_compact(token)
    key = keys.get(jws.kid)
    if key is None:
        raise InvalidTokenError("unknown_key")
    jose.verify_signature(jws, key)
    policy = ClaimPolicy(issuer=settings.issuer, audience=settings.audience)
    return validate_access_claims(
        jose.loads_strict(jws.payload, "payload"), policy, now=time.time()
    )


class RemoteValidationBackend(BackendService):
    """Every request asks auth (the anti-pattern)."""

    async def _claims(self, request: Request) -> AccessClaims:
        token = bearer_token(request.headers)
        if token is None:
            raise Problem(401, "missing_token", "send Authorization: Bearer <token>")
        try:
            async with httpx.AsyncClient(base_url=self.settings.auth_url, trust_env=False) as auth:
                document = (await auth.get("/.well-known/jwks.json", timeout=2)).json()
            return _verify(token, document, self.settings)
        except (httpx.HTTPError, ValueError, InvalidTokenError) as exc:
            reason = f"auth could not confirm the token ({type(exc).__name__})"
            raise Problem(401, "invalid_token", reason) from None


async def _open(settings: BackendSettings) -> BackendService:
    return await open_backend(settings, service_class=RemoteValidationBackend)


if __name__ == "__main__":
    sys.exit(serve_main("backend", _open))
