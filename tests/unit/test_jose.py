"""Compact JWS: strict pre-crypto parsing, signing and key-bound verification."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authdrill.errors import InvalidTokenError
from authdrill.stack.jose import (
    MAX_TOKEN_BYTES,
    VerificationKey,
    b64url_decode,
    b64url_encode,
    loads_strict,
    parse_compact,
    sign,
    verify_signature,
)
from authdrill.stack.jwk import generate_private_key, public_jwk, thumbprint

ALGS = ("ES256", "EdDSA", "RS256")
SIGNERS: dict[str, Any] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
}
CLAIMS = {"sub": "user-1", "sid": "s-1", "exp": 2_000_000_000, "token_use": "access"}
GOOD_HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "key-1"}
SIG = b64url_encode(b"\x01" * 64)


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    """One private key per algorithm (RSA generation is slow, so once per module)."""
    return {alg: generate_private_key(alg) for alg in ALGS}


@pytest.fixture(scope="module")
def other_keys() -> dict[str, Any]:
    """A second, unrelated private key per algorithm (an attacker's, say)."""
    return {alg: generate_private_key(alg) for alg in ALGS}


def vkey(private_key: Any, alg: str) -> VerificationKey:
    public = private_key.public_key()
    return VerificationKey(kid=thumbprint(public), alg=alg, key=public)


def encode_json(value: Any) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def forge(header: Any, payload: Any = CLAIMS, signature: str = SIG) -> str:
    """A compact token from raw parts (JSON-encoded unless already bytes)."""
    header_b64 = b64url_encode(header) if isinstance(header, bytes) else encode_json(header)
    payload_b64 = b64url_encode(payload) if isinstance(payload, bytes) else encode_json(payload)
    return f"{header_b64}.{payload_b64}.{signature}"


def sign_with_header(header: dict[str, Any], claims: dict[str, Any], private_key: Any) -> str:
    """Sign with an arbitrary header (what an attacker holding some key can do)."""
    signing_input = f"{encode_json(header)}.{encode_json(claims)}"
    signature = SIGNERS[header["alg"]].sign(signing_input.encode(), private_key)
    return f"{signing_input}.{b64url_encode(signature)}"


def reason_of_parse(token: str) -> str:
    with pytest.raises(InvalidTokenError) as info:
        parse_compact(token)
    return info.value.reason


def reason_of_verify(token: str, key: VerificationKey) -> str:
    """Why parsing then verifying ``token`` with ``key`` fails (it must fail)."""
    with pytest.raises(InvalidTokenError) as info:
        verify_signature(parse_compact(token), key)
    return info.value.reason


def replace_char(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize("alg", ALGS)
def test_sign_parse_verify_round_trip(keys: dict[str, Any], alg: str) -> None:
    """A token signed with ``sign`` parses to the same header and claims and verifies."""
    key = vkey(keys[alg], alg)
    token = sign(CLAIMS, keys[alg], alg=alg, kid=key.kid)
    jws = parse_compact(token)
    assert (jws.alg, jws.kid) == (alg, key.kid)
    assert jws.header == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    assert loads_strict(jws.payload, "payload") == CLAIMS
    assert jws.signing_input == token.rsplit(".", 1)[0].encode()
    verify_signature(jws, key)  # raises on failure


@given(st.binary(max_size=100))
def test_b64url_round_trip_without_padding(data: bytes) -> None:
    """Encoding is unpadded base64url and decoding inverts it."""
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    assert b64url_decode(encoded) == data


# ------------------------------------------------------------------ structure


def test_oversized_token_is_rejected_before_decoding() -> None:
    """A token over MAX_TOKEN_BYTES is ``too_large`` even if it is not ASCII or JWS."""
    assert reason_of_parse("é" * (MAX_TOKEN_BYTES + 1)) == "too_large"
    assert reason_of_parse("{" + "x" * MAX_TOKEN_BYTES) == "too_large"


def test_token_of_exactly_max_size_is_parsed() -> None:
    """A well-formed token of exactly MAX_TOKEN_BYTES passes the size check."""
    head = forge(GOOD_HEADER, {"pad": "x" * 100}, signature="")
    sig_length = MAX_TOKEN_BYTES - len(head)
    if sig_length % 4 == 1:  # not a valid base64 length: grow the payload instead
        head = forge(GOOD_HEADER, {"pad": "x" * 101}, signature="")
        sig_length = MAX_TOKEN_BYTES - len(head)
    token = head + "A" * sig_length
    assert len(token) == MAX_TOKEN_BYTES
    assert parse_compact(token).kid == "key-1"
    assert reason_of_parse(token + "AAAA") == "too_large"


@pytest.mark.parametrize(
    "token",
    [
        forge(GOOD_HEADER) + "é",
        "é" + forge(GOOD_HEADER),
        forge(GOOD_HEADER).replace(".", "\u2024", 1),
    ],
)
def test_non_ascii_token_is_malformed(token: str) -> None:
    """Any non-ASCII character makes the token malformed."""
    assert reason_of_parse(token) == "malformed"


@pytest.mark.parametrize(
    "token",
    [
        json.dumps({"payload": "e30", "protected": "e30", "signature": "AAAA"}),
        '  {"payload":"e30","signatures":[]}',
    ],
)
def test_json_serialization_is_malformed(token: str) -> None:
    """The JWS JSON serialization is not accepted."""
    assert reason_of_parse(token) == "malformed"


def test_five_segments_is_an_encrypted_token() -> None:
    """A five-segment compact token (JWE) is rejected as ``encrypted_token``."""
    jwe_header = encode_json({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "k"})
    assert reason_of_parse(f"{jwe_header}.AAAA.AAAA.AAAA.AAAA") == "encrypted_token"


@pytest.mark.parametrize("count", [1, 2, 4, 6])
def test_segment_counts_other_than_three_are_malformed(count: int) -> None:
    """Only three segments make a compact JWS."""
    segments = [encode_json(GOOD_HEADER), encode_json(CLAIMS), SIG, SIG, SIG, SIG]
    assert reason_of_parse(".".join(segments[:count])) == "malformed"


@pytest.mark.parametrize("segment", [0, 1, 2])
@pytest.mark.parametrize("damage", ["padding", "plus", "slash", "length", "space"])
def test_bad_base64url_in_any_segment_is_malformed(segment: int, damage: str) -> None:
    """Padding, '+', '/', stray characters or an impossible length are rejected."""
    parts = forge(GOOD_HEADER).split(".")
    parts[segment] = {
        "padding": parts[segment][:-2] + "==",
        "plus": "+" + parts[segment][1:],
        "slash": parts[segment][:-1] + "/",
        "length": parts[segment][: 4 * (len(parts[segment]) // 4)] + "A",
        "space": parts[segment][:3] + " " + parts[segment][3:],
    }[damage]
    assert reason_of_parse(".".join(parts)) == "malformed"


@pytest.mark.parametrize(
    "header",
    [b"not json", b"", b'["ES256"]', b'"at+jwt"', b"42", b"null", b"\xff\xfe{}", b'{"alg":'],
)
def test_header_not_a_json_object_is_malformed(header: bytes) -> None:
    """A header that is not JSON, or JSON but not an object, is malformed."""
    assert reason_of_parse(forge(header)) == "malformed"


def test_duplicate_header_member_is_malformed() -> None:
    """A repeated header member (e.g. a second ``alg``) is rejected, not last-wins."""
    header = b'{"alg":"ES256","typ":"at+jwt","kid":"k","alg":"none"}'
    assert reason_of_parse(forge(header)) == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"sub":"a","sub":"b"}',
        b'{"sub":"a","nested":{"x":1,"x":2}}',
        b'{"aud":[{"k":1,"k":1}]}',
    ],
)
def test_duplicate_payload_member_is_malformed(payload: bytes) -> None:
    """``loads_strict`` rejects duplicate members at any depth."""
    with pytest.raises(InvalidTokenError) as info:
        loads_strict(payload, "payload")
    assert info.value.reason == "malformed"
    assert "duplicate" in info.value.detail


@pytest.mark.parametrize("payload", [b"[]", b"1", b"not json", b"\xff"])
def test_loads_strict_names_what_was_bad(payload: bytes) -> None:
    """A non-object payload is malformed and the detail names the part."""
    with pytest.raises(InvalidTokenError) as info:
        loads_strict(payload, "payload")
    assert info.value.reason == "malformed"
    assert "payload" in info.value.detail


def test_empty_signature_is_a_bad_signature() -> None:
    """A stripped signature (``header.payload.``) is rejected before any crypto."""
    assert reason_of_parse(forge(GOOD_HEADER, signature="")) == "bad_signature"


# ------------------------------------------------------------------ header


@pytest.mark.parametrize(
    "alg",
    ["none", "None", "NONE", "nOnE", "HS256", "HS384", "HS512", "es256", "RS384", "PS256", ""],
)
def test_algorithms_outside_the_allow_list_are_rejected(alg: str) -> None:
    """``none`` in any spelling, every HS*, and unlisted algorithms are refused."""
    assert reason_of_parse(forge({**GOOD_HEADER, "alg": alg})) == "algorithm_not_allowed"


@pytest.mark.parametrize("alg", [None, 256, ["ES256"], {"name": "ES256"}, True])
def test_non_string_alg_is_rejected(alg: Any) -> None:
    """A missing or non-string ``alg`` is not allowed."""
    header = {k: v for k, v in GOOD_HEADER.items() if k != "alg"}
    if alg is not None:
        header["alg"] = alg
    assert reason_of_parse(forge(header)) == "algorithm_not_allowed"


def test_unsigned_alg_none_token_is_rejected() -> None:
    """The classic ``alg: none`` token with an empty signature never parses."""
    token = forge({"alg": "none", "typ": "at+jwt", "kid": "key-1"}, signature="")
    assert reason_of_parse(token) == "algorithm_not_allowed"


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt", "", "at+jwt ", 1])
def test_typ_other_than_at_jwt_is_rejected(typ: Any) -> None:
    """A missing typ, plain ``JWT`` (e.g. an ID token) or anything else is refused."""
    header = {k: v for k, v in GOOD_HEADER.items() if k != "typ"}
    if typ is not None:
        header["typ"] = typ
    assert reason_of_parse(forge(header)) == "wrong_token_type"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_access_token_type_spellings_are_accepted(typ: str) -> None:
    """``at+jwt`` and its full media type (case-insensitively) are accepted."""
    assert parse_compact(forge({**GOOD_HEADER, "typ": typ})).header["typ"] == typ


@pytest.mark.parametrize(
    "extra", [{"crit": ["exp"]}, {"crit": []}, {"b64": False}, {"b64": True}, {"crit": None}]
)
def test_crit_and_b64_headers_are_unsupported(extra: dict[str, Any]) -> None:
    """Any ``crit`` or ``b64`` member is refused: we understand no extensions."""
    assert reason_of_parse(forge({**GOOD_HEADER, **extra})) == "unsupported_header"


@pytest.mark.parametrize(
    "kid", [None, "", "k" * 129, 7, ["k"], "a b", "a\nb", "a;b", "a%2e", "k\u00e9", "{k}", "a\\b"]
)
def test_kid_missing_or_outside_length_and_charset_is_malformed(kid: Any) -> None:
    """``kid`` must be a 1-128 character string of the allowed characters."""
    header = {k: v for k, v in GOOD_HEADER.items() if k != "kid"}
    if kid is not None:
        header["kid"] = kid
    assert reason_of_parse(forge(header)) == "malformed"


@pytest.mark.parametrize("kid", ["k", "k" * 128, "AZaz09._~:+/=-", "NzbLsXh8uDCcd-6MNwXF4W_7no"])
def test_kid_within_limits_is_accepted(kid: str) -> None:
    """Thumbprints and other short printable ids are accepted verbatim."""
    assert parse_compact(forge({**GOOD_HEADER, "kid": kid})).kid == kid


# ------------------------------------------------------------------ verification


@pytest.mark.parametrize("alg", ALGS)
def test_altered_payload_is_a_bad_signature(keys: dict[str, Any], alg: str) -> None:
    """Changing one payload character breaks the signature."""
    key = vkey(keys[alg], alg)
    header, payload, signature = sign(CLAIMS, keys[alg], alg=alg, kid=key.kid).split(".")
    tampered = f"{header}.{replace_char(payload, 5)}.{signature}"
    assert reason_of_verify(tampered, key) == "bad_signature"


@pytest.mark.parametrize("alg", ALGS)
def test_altered_or_truncated_signature_is_bad(keys: dict[str, Any], alg: str) -> None:
    """A flipped, truncated or extended signature does not verify."""
    key = vkey(keys[alg], alg)
    token = sign(CLAIMS, keys[alg], alg=alg, kid=key.kid)
    head, signature = token.rsplit(".", 1)
    assert reason_of_verify(f"{head}.{replace_char(signature, 10)}", key) == "bad_signature"
    for bad in (signature[:-4], signature + "AAAA", "AAAA"):
        # a cut can leave non-zero leftover bits: refused as non-canonical before verifying
        assert reason_of_verify(f"{head}.{bad}", key) in {"bad_signature", "malformed"}, bad


@pytest.mark.parametrize("alg", ALGS)
def test_signature_from_another_key_is_bad(
    keys: dict[str, Any], other_keys: dict[str, Any], alg: str
) -> None:
    """A token signed by a different key of the same algorithm does not verify."""
    key = vkey(keys[alg], alg)
    token = sign(CLAIMS, other_keys[alg], alg=alg, kid=key.kid)
    assert reason_of_verify(token, key) == "bad_signature"


@pytest.mark.parametrize(
    ("token_alg", "key_alg"),
    [("EdDSA", "ES256"), ("ES256", "EdDSA"), ("RS256", "ES256"), ("ES256", "RS256")],
)
def test_header_alg_differing_from_key_alg_is_a_mismatch(
    keys: dict[str, Any], token_alg: str, key_alg: str
) -> None:
    """The key's own algorithm decides; a token naming another is refused unverified."""
    key = vkey(keys[key_alg], key_alg)
    token = sign(CLAIMS, keys[token_alg], alg=token_alg, kid=key.kid)
    assert reason_of_verify(token, key) == "algorithm_mismatch"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("secret_form", ["pem", "jwk"])
def test_hmac_signed_with_the_public_key_is_refused(
    keys: dict[str, Any], alg: str, secret_form: str
) -> None:
    """The key-confusion attack (HS* keyed with the public key) fails at parsing."""
    public = keys["ES256"].public_key()
    kid = thumbprint(public)
    secret = (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if secret_form == "pem"
        else json.dumps(public_jwk(public, kid=kid, alg="ES256")).encode()
    )
    signing_input = (
        f"{encode_json({'alg': alg, 'typ': 'at+jwt', 'kid': kid})}.{encode_json(CLAIMS)}"
    )
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    assert reason_of_parse(f"{signing_input}.{b64url_encode(mac)}") == "algorithm_not_allowed"


@pytest.mark.parametrize("alg", ALGS)
def test_header_supplied_keys_are_ignored(
    keys: dict[str, Any], other_keys: dict[str, Any], alg: str
) -> None:
    """An attacker's token carrying its own key in ``jwk``/``jku``/``x5u``/``x5c`` fails."""
    real = vkey(keys[alg], alg)
    attacker = other_keys[alg]
    attacker_public = attacker.public_key()
    header = {
        "alg": alg,
        "typ": "at+jwt",
        "kid": real.kid,
        "jwk": public_jwk(attacker_public, kid=real.kid, alg=alg),
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIBattacker"],
    }
    token = sign_with_header(header, CLAIMS, attacker)
    # The attacker's key does vouch for the token, so only ignoring the header saves us.
    verify_signature(parse_compact(token), vkey(attacker, alg))
    assert reason_of_verify(token, real) == "bad_signature"


def test_deeply_nested_header_is_malformed() -> None:
    """A pre-crypto header nested thousands deep is ``malformed``, not a crash."""
    token = forge(b'{"alg":"ES256","x":' + b"[" * 2000 + b"]" * 2000 + b"}")
    assert len(token) <= MAX_TOKEN_BYTES
    assert reason_of_parse(token) == "malformed"


def test_header_with_huge_integer_is_malformed() -> None:
    """A header holding an integer literal too long for int() is ``malformed``."""
    token = forge(b'{"alg":"ES256","x":' + b"1" * 5000 + b"}")
    assert len(token) <= MAX_TOKEN_BYTES
    assert reason_of_parse(token) == "malformed"
