"""JWKs: public rendering, RFC 7638 thumbprints and strict JWK-set parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authdrill.stack.jose import parse_compact, sign, verify_signature
from authdrill.stack.jwk import generate_private_key, parse_jwks, public_jwk, thumbprint

ALGS = ("ES256", "EdDSA", "RS256")
KTY = {"ES256": "EC", "EdDSA": "OKP", "RS256": "RSA"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    """One private key per algorithm, plus odd keys for mismatch cases."""
    return {
        **{alg: generate_private_key(alg) for alg in ALGS},
        "P-384": ec.generate_private_key(ec.SECP384R1()),
        "RSA-1024": weak_rsa_key(),
    }


def weak_rsa_key() -> rsa.RSAPrivateKey:
    """A 1024-bit RSA key: too small to trust, which parse_jwks must refuse."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


def jwk_of(private_key: Any, *, kid: str, alg: str) -> dict[str, Any]:
    return public_jwk(private_key.public_key(), kid=kid, alg=alg)


# ------------------------------------------------------------------ public_jwk


@pytest.mark.parametrize("alg", ALGS)
def test_public_jwk_has_kid_alg_use_and_no_private_members(keys: dict[str, Any], alg: str) -> None:
    """The rendered JWK carries kid, alg, use=sig, the right kty, and no secrets."""
    jwk = jwk_of(keys[alg], kid="kid-1", alg=alg)
    assert (jwk["kid"], jwk["alg"], jwk["use"], jwk["kty"]) == ("kid-1", alg, "sig", KTY[alg])
    assert not PRIVATE_MEMBERS & jwk.keys()


def test_generate_private_key_makes_the_right_key_types() -> None:
    """ES256 → P-256, EdDSA → Ed25519, RS256 → RSA ≥ 2048; anything else is refused."""
    es = generate_private_key("ES256")
    assert isinstance(es, ec.EllipticCurvePrivateKey)
    assert es.curve.name == "secp256r1"
    assert isinstance(generate_private_key("EdDSA"), ed25519.Ed25519PrivateKey)
    with pytest.raises(ValueError, match="HS256"):
        generate_private_key("HS256")


def test_generated_rsa_key_is_at_least_2048_bits(keys: dict[str, Any]) -> None:
    """The RS256 key made for signing is large enough for our own parser."""
    assert isinstance(keys["RS256"], rsa.RSAPrivateKey)
    assert keys["RS256"].key_size >= 2048


# ------------------------------------------------------------------ thumbprint


def test_thumbprint_matches_the_rfc_7638_example() -> None:
    """The thumbprint of RFC 7638's example RSA key is the RFC's value."""
    key = RSAAlgorithm.from_jwk(json.dumps({"kty": "RSA", "n": RFC7638_N, "e": "AQAB"}))
    assert thumbprint(key) == RFC7638_THUMBPRINT


@pytest.mark.parametrize("alg", ALGS)
def test_thumbprint_is_deterministic_and_key_specific(keys: dict[str, Any], alg: str) -> None:
    """The same public key always gives the same thumbprint; another key gives another."""
    public = keys[alg].public_key()
    reloaded = {"ES256": ECAlgorithm, "EdDSA": OKPAlgorithm, "RS256": RSAAlgorithm}[alg].from_jwk(
        json.dumps(public_jwk(public, kid="x", alg=alg))
    )
    assert thumbprint(public) == thumbprint(public) == thumbprint(reloaded)
    assert len(thumbprint(public)) == 43  # 32 bytes of SHA-256, unpadded base64url
    assert thumbprint(public) != thumbprint(generate_private_key("EdDSA").public_key())


# ------------------------------------------------------------------ parse_jwks


@pytest.mark.parametrize("alg", ALGS)
def test_parsed_key_verifies_tokens_of_its_private_key(keys: dict[str, Any], alg: str) -> None:
    """A published public JWK parses into a key bound to its alg that verifies tokens."""
    kid = thumbprint(keys[alg].public_key())
    parsed = parse_jwks({"keys": [jwk_of(keys[alg], kid=kid, alg=alg)]})
    assert parsed.skipped == ()
    assert list(parsed.keys) == [kid]
    key = parsed.keys[kid]
    assert (key.kid, key.alg) == (kid, alg)
    verify_signature(parse_compact(sign({"sub": "u"}, keys[alg], alg=alg, kid=kid)), key)


def test_use_member_may_be_absent() -> None:
    """A key without ``use`` is a signing key."""
    jwk = jwk_of(generate_private_key("EdDSA"), kid="k", alg="EdDSA")
    del jwk["use"]
    assert set(parse_jwks({"keys": [jwk]}).keys) == {"k"}


def _private_ec_jwk() -> dict[str, Any]:
    jwk = dict(ECAlgorithm.to_jwk(generate_private_key("ES256"), as_dict=True))
    jwk.update(kid="bad", alg="ES256", use="sig")
    return jwk


def _bad_entries(keys: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """Entries parse_jwks must skip, with a word its reason must contain (any case)."""
    es = jwk_of(keys["ES256"], kid="bad", alg="ES256")
    return {
        "private EC key": (_private_ec_jwk(), "private"),
        "oct key with k": (
            {"kty": "oct", "k": "c2VjcmV0", "kid": "bad", "alg": "ES256"},
            "private",
        ),
        "alg HS256": ({**es, "alg": "HS256"}, "HS256"),
        "alg none": ({**es, "alg": "none"}, "none"),
        "alg missing": ({k: v for k, v in es.items() if k != "alg"}, "None"),
        "alg RS512": (jwk_of(keys["RS256"], kid="bad", alg="RS512"), "RS512"),
        "EC labelled EdDSA": (jwk_of(keys["ES256"], kid="bad", alg="EdDSA"), "octet key pair"),
        "P-384 labelled ES256": (jwk_of(keys["P-384"], kid="bad", alg="ES256"), "P-256"),
        "Ed25519 labelled ES256": (jwk_of(keys["EdDSA"], kid="bad", alg="ES256"), "elliptic"),
        "RSA labelled ES256": (jwk_of(keys["RS256"], kid="bad", alg="ES256"), "elliptic"),
        "EC labelled RS256": (jwk_of(keys["ES256"], kid="bad", alg="RS256"), "rsa key"),
        "RSA 1024": (jwk_of(keys["RSA-1024"], kid="bad", alg="RS256"), "2048"),
        "use enc": ({**es, "use": "enc"}, "enc"),
        "point not on curve": ({**es, "x": es["y"]}, "curve"),
        "kid missing": ({k: v for k, v in es.items() if k != "kid"}, "kid"),
        "kid empty": ({**es, "kid": ""}, "kid"),
        "kid too long": ({**es, "kid": "k" * 129}, "kid"),
        "kid not a string": ({**es, "kid": 7}, "kid"),
        "string entry": ("not a key", "object"),
        "number entry": (42, "object"),
        "null entry": (None, "object"),
        "list entry": ([es], "object"),
    }


BAD_CASES = [
    "private EC key",
    "oct key with k",
    "alg HS256",
    "alg none",
    "alg missing",
    "alg RS512",
    "EC labelled EdDSA",
    "P-384 labelled ES256",
    "Ed25519 labelled ES256",
    "RSA labelled ES256",
    "EC labelled RS256",
    "RSA 1024",
    "use enc",
    "point not on curve",
    "kid missing",
    "kid empty",
    "kid too long",
    "kid not a string",
    "string entry",
    "number entry",
    "null entry",
    "list entry",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_keys_are_skipped_and_reported(keys: dict[str, Any], case: str) -> None:
    """Each bad entry is skipped with a reason, and a good neighbour is still trusted."""
    bad, word = _bad_entries(keys)[case]
    good = jwk_of(keys["EdDSA"], kid="good", alg="EdDSA")
    parsed = parse_jwks({"keys": [bad, good]})
    assert list(parsed.keys) == ["good"]
    assert len(parsed.skipped) == 1
    assert word.lower() in parsed.skipped[0].lower()


def test_bad_case_table_is_complete(keys: dict[str, Any]) -> None:
    """Every constructed bad entry is exercised by the parametrized test."""
    assert sorted(_bad_entries(keys)) == sorted(BAD_CASES)


def test_duplicate_kid_keeps_the_first_and_reports_the_second(keys: dict[str, Any]) -> None:
    """Two keys sharing a kid: the first is trusted, the second skipped, never replaced."""
    first = jwk_of(keys["ES256"], kid="same", alg="ES256")
    second = jwk_of(keys["EdDSA"], kid="same", alg="EdDSA")
    parsed = parse_jwks({"keys": [first, second]})
    assert parsed.keys["same"].alg == "ES256"
    assert parsed.skipped == ("key same: duplicate kid",)


def test_empty_key_list_parses_to_nothing() -> None:
    """``{"keys": []}`` is a valid, empty set."""
    parsed = parse_jwks({"keys": []})
    assert (parsed.keys, parsed.skipped) == ({}, ())


@pytest.mark.parametrize(
    "document", [None, [], "keys", {}, {"keys": {}}, {"keys": "[]"}, {"keys": None}, {"kty": "EC"}]
)
def test_document_that_is_not_a_key_set_is_rejected(document: Any) -> None:
    """Anything but an object with a ``keys`` list raises ValueError."""
    with pytest.raises(ValueError, match="keys"):
        parse_jwks(document)


@pytest.mark.parametrize("alg", [["ES256"], {"ES256": 1}])
def test_unhashable_alg_is_skipped_not_raised(keys: dict[str, Any], alg: Any) -> None:
    """A key whose alg is a JSON array or object is skipped like any other bad alg."""
    bad = {**jwk_of(keys["ES256"], kid="bad", alg="ES256"), "alg": alg}
    parsed = parse_jwks({"keys": [bad]})
    assert parsed.keys == {}
    assert len(parsed.skipped) == 1
