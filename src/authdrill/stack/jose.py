"""Compact JWS: strict parsing before any crypto, signing, and key-bound verification.

Verification never lets the token choose how it is checked (RFC 8725 §2.1, §3.1):

1. :func:`parse_compact` rejects, *before any crypto*: oversized tokens, anything but
   three base64url segments (JWE's five, JSON serialization, extra segments), headers
   that are not a JSON object, an ``alg`` outside :data:`ALLOWED_ALGORITHMS` (so
   ``none`` in any spelling and every ``HS*``), an explicit type other than
   :data:`ACCESS_TOKEN_TYPE`, any ``crit`` header (we understand no extensions),
   ``b64``, duplicate JSON members, and a missing or odd ``kid``. Header-supplied keys
   (``jku``, ``x5u``, ``jwk``, ``x5c``) are never read.
2. :func:`verify_signature` checks the signature with the algorithm *bound to the key*;
   a header ``alg`` that differs from the key's is rejected.

The ``kid`` is only ever used as a dictionary key into an in-memory key set.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authdrill.errors import InvalidTokenError

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ALLOWED_ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "CompactJws",
    "VerificationKey",
    "b64url_decode",
    "b64url_encode",
    "loads_strict",
    "parse_compact",
    "sign",
    "verify_signature",
]

MAX_TOKEN_BYTES = 8192
MAX_KID_LENGTH = 128
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a header value, not a secret
_TYPE_SPELLINGS = frozenset({"at+jwt", "application/at+jwt"})
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[A-Za-z0-9._~:+/=-]{1,128}")

_ALGORITHM_OBJECTS: dict[str, Any] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
}
ALLOWED_ALGORITHMS = frozenset(_ALGORITHM_OBJECTS)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key with the one algorithm it may verify.

    Attributes:
        kid: the key id (RFC 7638 thumbprint for keys authdrill makes).
        alg: the algorithm bound to this key; tokens claiming another are rejected.
        key: the ``cryptography`` public key object.
    """

    kid: str
    alg: str
    key: Any


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A compact JWS that passed every pre-crypto check (signature not yet checked)."""

    alg: str
    kid: str
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url strictly (no padding, no stray characters).

    Raises:
        InvalidTokenError: reason ``malformed``.
    """
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidTokenError("malformed", "segment is not unpadded base64url")
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidTokenError("malformed", "segment is not base64url") from exc
    # RFC 4648 §3.5: leftover low bits must be zero, so each value has one spelling
    if b64url_encode(decoded) != segment:
        raise InvalidTokenError("malformed", "segment is not canonical base64url")
    return decoded


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidTokenError("malformed", f"duplicate JSON member {key!r}")
        result[key] = value
    return result


def loads_strict(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object, rejecting duplicates and anything but an object.

    Raises:
        InvalidTokenError: reason ``malformed``, naming ``what`` was bad.
    """
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except InvalidTokenError:
        raise
    except (ValueError, RecursionError) as exc:  # bad JSON/UTF-8, huge ints, deep nesting
        raise InvalidTokenError("malformed", f"{what} is not acceptable JSON") from exc
    if not isinstance(value, dict):
        raise InvalidTokenError("malformed", f"{what} is not a JSON object")
    return value


def _check_header(header: dict[str, Any]) -> tuple[str, str]:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise InvalidTokenError("algorithm_not_allowed", f"alg {alg!r} is not accepted")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYPE_SPELLINGS:
        raise InvalidTokenError("wrong_token_type", f"header typ {typ!r} is not at+jwt")
    if "crit" in header or "b64" in header:
        raise InvalidTokenError("unsupported_header", "critical header extensions not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvalidTokenError("malformed", "kid is missing or not a short printable string")
    return alg, kid


def parse_compact(token: str) -> CompactJws:
    """Split and check a compact JWS without any cryptography.

    Raises:
        InvalidTokenError: with reasons ``too_large``, ``malformed``,
            ``encrypted_token``, ``algorithm_not_allowed``, ``wrong_token_type``,
            ``unsupported_header``.
    """
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError("too_large", f"token is over {MAX_TOKEN_BYTES} bytes")
    if not token.isascii():
        raise InvalidTokenError("malformed", "token is not ASCII")
    if token.lstrip().startswith("{"):
        raise InvalidTokenError("malformed", "JSON-serialized JWS is not accepted")
    parts = token.split(".")
    if len(parts) == 5:  # noqa: PLR2004 - a compact JWE has five segments
        raise InvalidTokenError("encrypted_token", "JWE tokens are not accepted")
    if len(parts) != 3:  # noqa: PLR2004 - a compact JWS has three segments
        raise InvalidTokenError("malformed", f"token has {len(parts)} segments, not 3")
    header_b64, payload_b64, signature_b64 = parts
    header = loads_strict(b64url_decode(header_b64), "header")
    alg, kid = _check_header(header)
    payload = b64url_decode(payload_b64)
    signature = b64url_decode(signature_b64)
    if not signature:
        raise InvalidTokenError("bad_signature", "signature is empty")
    return CompactJws(
        alg=alg,
        kid=kid,
        header=header,
        payload=payload,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=signature,
    )


def verify_signature(jws: CompactJws, key: VerificationKey) -> None:
    """Check ``jws``'s signature with ``key``'s own algorithm.

    Raises:
        InvalidTokenError: ``algorithm_mismatch`` when the header names another
            algorithm than the key's; ``bad_signature`` when the signature is wrong.
    """
    if jws.alg != key.alg:
        raise InvalidTokenError(
            "algorithm_mismatch", f"header alg {jws.alg} but key {key.kid} is {key.alg}"
        )
    algorithm = _ALGORITHM_OBJECTS[key.alg]
    if not algorithm.verify(jws.signing_input, key.key, jws.signature):
        raise InvalidTokenError("bad_signature", "signature does not verify")


def sign(claims: dict[str, Any], private_key: Any, *, alg: str, kid: str) -> str:
    """Sign ``claims`` as an access token (header ``typ: at+jwt`` and ``kid``)."""
    header = {"alg": alg, "kid": kid, "typ": ACCESS_TOKEN_TYPE}
    header_b64 = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    payload_b64 = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    signature = _ALGORITHM_OBJECTS[alg].sign(signing_input, private_key)
    return f"{header_b64}.{payload_b64}.{b64url_encode(signature)}"
