"""JWKs and JWK sets: public rendering, strict parsing, RFC 7638 thumbprints.

:func:`parse_jwks` is what a backend trusts, so it is strict: every key must carry a
``kid``, an ``alg`` from :data:`~authdrill.stack.jose.ALLOWED_ALGORITHMS`, ``use: sig``
when present, a key type that fits the algorithm (P-256 for ES256, Ed25519 for EdDSA,
RSA >= 2048 bits for RS256) and no private members. A key that fails is skipped and
reported, never half-trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from authdrill.stack.jose import ALLOWED_ALGORITHMS, VerificationKey, b64url_encode

__all__ = [
    "ParsedJwks",
    "generate_private_key",
    "parse_jwks",
    "public_jwk",
    "thumbprint",
]

_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def generate_private_key(alg: str) -> Any:
    """A fresh private key for ``alg`` (ES256, EdDSA or RS256)."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unsupported algorithm {alg!r}")


def _bare_jwk(public_key: Any) -> dict[str, Any]:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return dict(ECAlgorithm.to_jwk(public_key, as_dict=True))
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return dict(OKPAlgorithm.to_jwk(public_key, as_dict=True))
    if isinstance(public_key, rsa.RSAPublicKey):
        return dict(RSAAlgorithm.to_jwk(public_key, as_dict=True))
    raise TypeError(f"unsupported key type {type(public_key).__name__}")


def thumbprint(public_key: Any) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key, base64url (used as ``kid``)."""
    jwk = _bare_jwk(public_key)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def public_jwk(public_key: Any, *, kid: str, alg: str) -> dict[str, Any]:
    """The public JWK of ``public_key`` with ``kid``, ``alg`` and ``use: sig``."""
    jwk = {k: v for k, v in _bare_jwk(public_key).items() if k not in _PRIVATE_MEMBERS}
    jwk.update(kid=kid, alg=alg, use="sig")
    return jwk


def _load_public(jwk: Mapping[str, Any], alg: str) -> Any:
    text = json.dumps(dict(jwk))
    if alg == "ES256":
        ec_key = ECAlgorithm.from_jwk(text)
        if not isinstance(ec_key, ec.EllipticCurvePublicKey) or ec_key.curve.name != "secp256r1":
            raise ValueError("ES256 needs a P-256 public key")
        return ec_key
    if alg == "EdDSA":
        okp_key = OKPAlgorithm.from_jwk(text)
        if not isinstance(okp_key, ed25519.Ed25519PublicKey):
            raise ValueError("EdDSA needs an Ed25519 public key")
        return okp_key
    rsa_key = RSAAlgorithm.from_jwk(text)
    if not isinstance(rsa_key, rsa.RSAPublicKey) or rsa_key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"RS256 needs an RSA public key of at least {_MIN_RSA_BITS} bits")
    return rsa_key


def _parse_key(jwk: Any) -> VerificationKey:
    if not isinstance(jwk, dict):
        raise ValueError("key is not a JSON object")  # noqa: TRY004 - bad data, not a bad call
    kid, alg = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str) or not kid or len(kid) > 128:  # noqa: PLR2004 - kid length cap
        raise ValueError("key has no usable kid")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise ValueError(f"key {kid}: alg {alg!r} is not accepted")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"key {kid}: use {jwk.get('use')!r} is not 'sig'")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ValueError(f"key {kid}: contains private key material")
    try:
        key = _load_public(jwk, alg)
    except (InvalidKeyError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"key {kid}: {exc}") from exc
    return VerificationKey(kid=kid, alg=alg, key=key)


@dataclass(frozen=True, slots=True)
class ParsedJwks:
    """The usable keys of a JWK set, and why any others were skipped."""

    keys: dict[str, VerificationKey]
    skipped: tuple[str, ...]


def parse_jwks(document: Any) -> ParsedJwks:
    """Parse a JWK set document (already JSON-decoded).

    Raises:
        ValueError: the document is not ``{"keys": [...]}``.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('JWK set is not an object with a "keys" list')  # noqa: TRY004 - bad data
    keys: dict[str, VerificationKey] = {}
    skipped: list[str] = []
    for entry in document["keys"]:
        try:
            key = _parse_key(entry)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        if key.kid in keys:
            skipped.append(f"key {key.kid}: duplicate kid")
            continue
        keys[key.kid] = key
    return ParsedJwks(keys=keys, skipped=tuple(skipped))
