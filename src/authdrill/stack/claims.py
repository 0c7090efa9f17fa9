"""Access-token claims: what auth issues and what every verifier demands (pure).

Required: ``iss`` (exact), ``aud`` (exact; a string, or a list holding it), ``sub``,
``exp``, ``iat``, ``jti``, ``sid`` and ``token_use == "access"``. Rejected: expired,
``iat``/``nbf`` in the future beyond the leeway, a lifetime (``exp - iat``) over policy,
and any claim of the wrong JSON type (a boolean is not a number, a number not a string).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authdrill.errors import InvalidTokenError

__all__ = [
    "ACCESS_TOKEN_USE",
    "AccessClaims",
    "ClaimPolicy",
    "validate_access_claims",
]

ACCESS_TOKEN_USE = "access"  # noqa: S105 - a claim value, not a secret
_MAX_STRING = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimPolicy:
    """What a verifier demands of claims.

    Attributes:
        issuer: the exact ``iss``.
        audience: the exact ``aud`` (or a member of an ``aud`` list).
        max_lifetime_s: the longest ``exp - iat`` accepted.
        leeway_s: clock skew tolerated for ``exp``, ``iat`` and ``nbf``.
    """

    issuer: str
    audience: str
    max_lifetime_s: float = 3600.0
    leeway_s: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessClaims:
    """The validated claims of an access token (times are Unix seconds)."""

    sub: str
    sid: str
    jti: str
    iat: float
    exp: float
    username: str | None = None


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise InvalidTokenError("missing_claim", f"claim {name!r} is missing")
    if not isinstance(value, str) or not value or len(value) > _MAX_STRING:
        raise InvalidTokenError("invalid_claim", f"claim {name!r} is not a short string")
    return value


def _number(claims: Mapping[str, Any], name: str, *, required: bool = True) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidTokenError("missing_claim", f"claim {name!r} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError("invalid_claim", f"claim {name!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidTokenError("invalid_claim", f"claim {name!r} is out of range") from None
    if not math.isfinite(number):
        raise InvalidTokenError("invalid_claim", f"claim {name!r} is not a finite number")
    return number


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    if aud is None:
        raise InvalidTokenError("missing_claim", "claim 'aud' is missing")
    if isinstance(aud, str):
        ok = aud == audience
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        ok = audience in aud
    else:
        raise InvalidTokenError("invalid_claim", "claim 'aud' is not a string or string list")
    if not ok:
        raise InvalidTokenError("wrong_audience", "token is not for this audience")


def validate_access_claims(
    claims: Mapping[str, Any], policy: ClaimPolicy, *, now: float
) -> AccessClaims:
    """Check ``claims`` against ``policy`` at Unix time ``now``.

    Raises:
        InvalidTokenError: with reasons ``missing_claim``, ``invalid_claim``,
            ``wrong_issuer``, ``wrong_audience``, ``wrong_token_type``, ``expired``,
            ``not_yet_valid``, ``lifetime_too_long``.
    """
    if _string(claims, "iss") != policy.issuer:
        raise InvalidTokenError("wrong_issuer", "token is not from the expected issuer")
    _check_audience(claims, policy.audience)
    if claims.get("token_use") != ACCESS_TOKEN_USE:
        raise InvalidTokenError("wrong_token_type", "token_use is not 'access'")
    sub, sid, jti = _string(claims, "sub"), _string(claims, "sid"), _string(claims, "jti")
    exp = _number(claims, "exp")
    iat = _number(claims, "iat")
    nbf = _number(claims, "nbf", required=False)
    assert exp is not None
    assert iat is not None
    leeway = policy.leeway_s
    if exp <= now - leeway:
        raise InvalidTokenError("expired", "token has expired")
    if iat > now + leeway:
        raise InvalidTokenError("not_yet_valid", "token was issued in the future")
    if nbf is not None and nbf > now + leeway:
        raise InvalidTokenError("not_yet_valid", "token is not valid yet (nbf)")
    if exp <= iat:
        raise InvalidTokenError("invalid_claim", "exp is not after iat")
    if exp - iat > policy.max_lifetime_s:
        raise InvalidTokenError("lifetime_too_long", "token lifetime exceeds policy")
    username = claims.get("name")
    return AccessClaims(
        sub=sub,
        sid=sid,
        jti=jti,
        iat=iat,
        exp=exp,
        username=username if isinstance(username, str) else None,
    )
