"""Access-token claim validation (pure): every rejection reason and the happy path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authdrill.errors import InvalidTokenError
from authdrill.stack.claims import AccessClaims, ClaimPolicy, validate_access_claims

NOW = 1_700_000_000.0
POLICY = ClaimPolicy(issuer="https://auth.example", audience="api", max_lifetime_s=900, leeway_s=30)
REQUIRED = ("iss", "aud", "token_use", "sub", "sid", "jti", "exp", "iat")


def make_claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims issued one minute ago for ten minutes, with ``overrides`` applied."""
    claims: dict[str, Any] = {
        "iss": "https://auth.example",
        "aud": "api",
        "token_use": "access",
        "sub": "user-1",
        "sid": "session-1",
        "jti": "token-1",
        "iat": NOW - 60,
        "exp": NOW + 540,
        "name": "alice",
    }
    claims.update(overrides)
    return claims


def reason_of(claims: dict[str, Any], *, now: float = NOW) -> str:
    with pytest.raises(InvalidTokenError) as info:
        validate_access_claims(claims, POLICY, now=now)
    return info.value.reason


def test_happy_path_returns_the_validated_fields() -> None:
    """Valid claims come back as AccessClaims with times as floats and the name."""
    result = validate_access_claims(make_claims(), POLICY, now=NOW)
    assert result == AccessClaims(
        sub="user-1", sid="session-1", jti="token-1", iat=NOW - 60, exp=NOW + 540, username="alice"
    )
    assert isinstance(result.exp, float)
    assert isinstance(result.iat, float)


def test_non_string_name_is_dropped_not_rejected() -> None:
    """An optional ``name`` that is not a string yields username None."""
    assert validate_access_claims(make_claims(name=7), POLICY, now=NOW).username is None
    claims = make_claims()
    del claims["name"]
    assert validate_access_claims(claims, POLICY, now=NOW).username is None


@pytest.mark.parametrize("name", REQUIRED)
def test_each_required_claim_missing_is_rejected(name: str) -> None:
    """Dropping any one required claim is rejected (token_use as a wrong type)."""
    claims = make_claims()
    del claims[name]
    expected = "wrong_token_type" if name == "token_use" else "missing_claim"
    assert reason_of(claims) == expected


@pytest.mark.parametrize("name", ["iss", "aud", "sub", "sid", "jti", "exp", "iat"])
def test_json_null_counts_as_missing(name: str) -> None:
    """A required claim present as JSON null is reported missing."""
    assert reason_of(make_claims(**{name: None})) == "missing_claim"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", True),
        ("exp", False),
        ("iat", True),
        ("nbf", True),
        ("exp", "1700000600"),
        ("iat", [NOW]),
        ("exp", float("nan")),
        ("exp", float("inf")),
        ("iat", float("-inf")),
        ("sub", 42),
        ("sid", 1.5),
        ("jti", True),
        ("sub", ["user-1"]),
        ("sub", ""),
        ("sid", ""),
        ("jti", ""),
        ("iss", ""),
        ("sub", "x" * 257),
        ("jti", "x" * 257),
        ("iss", 1),
        ("aud", ["api", 1]),
        ("aud", [None]),
        ("aud", []),
        ("aud", 5),
        ("aud", {"api": True}),
    ],
)
def test_wrong_json_types_are_invalid_claims(name: str, value: Any) -> None:
    """Booleans as numbers, numbers as strings, empty/over-long strings are rejected."""
    assert reason_of(make_claims(**{name: value})) == "invalid_claim"


def test_string_at_the_length_cap_is_accepted() -> None:
    """A 256-character sub is still a short string."""
    assert validate_access_claims(make_claims(sub="x" * 256), POLICY, now=NOW).sub == "x" * 256


def test_integer_times_are_accepted() -> None:
    """JSON integers are numbers (only booleans are excluded)."""
    result = validate_access_claims(make_claims(iat=int(NOW), exp=int(NOW) + 60), POLICY, now=NOW)
    assert result.exp == NOW + 60


@pytest.mark.parametrize(
    "iss", ["https://auth.example/", "https://AUTH.example", "https://auth.example ", "other"]
)
def test_issuer_must_match_exactly(iss: str) -> None:
    """Any issuer differing from the policy's, even by case or a slash, is rejected."""
    assert reason_of(make_claims(iss=iss)) == "wrong_issuer"


@pytest.mark.parametrize("aud", ["API", "api ", "other", ["other"], ["apix", "x"]])
def test_audience_must_match_exactly(aud: Any) -> None:
    """An audience string or list without the exact policy audience is rejected."""
    assert reason_of(make_claims(aud=aud)) == "wrong_audience"


@pytest.mark.parametrize("aud", ["api", ["api"], ["other", "api"]])
def test_audience_string_or_list_holding_it_is_accepted(aud: Any) -> None:
    """``aud`` may be the audience or a list of strings containing it."""
    assert validate_access_claims(make_claims(aud=aud), POLICY, now=NOW).sub == "user-1"


@pytest.mark.parametrize("token_use", ["refresh", "ACCESS", "id", "", None, 1, True])
def test_token_use_other_than_access_is_rejected(token_use: Any) -> None:
    """A refresh token (or anything not exactly 'access') is not an access token."""
    assert reason_of(make_claims(token_use=token_use)) == "wrong_token_type"


@pytest.mark.parametrize(
    ("exp_offset", "valid"),
    [
        (-31.0, False),  # beyond the leeway
        (-30.0, False),  # exactly at now - leeway: expired
        (-29.999, True),  # just inside the leeway
        (-1.0, True),  # expired, but within the skew allowance
        (0.0, True),
        (60.0, True),
    ],
)
def test_expiry_around_the_leeway_boundary(exp_offset: float, valid: bool) -> None:
    """A token is expired once ``exp <= now - leeway``, and not a moment before."""
    claims = make_claims(iat=NOW - 300, exp=NOW + exp_offset)
    if valid:
        assert validate_access_claims(claims, POLICY, now=NOW).exp == NOW + exp_offset
    else:
        assert reason_of(claims) == "expired"


@pytest.mark.parametrize(
    ("name", "offset", "valid"),
    [
        ("iat", 30.0, True),
        ("iat", 30.001, False),
        ("iat", 10.0, True),
        ("nbf", 30.0, True),
        ("nbf", 30.001, False),
        ("nbf", 3600.0, False),
        ("nbf", -10.0, True),
    ],
)
def test_future_iat_or_nbf_beyond_leeway_is_not_yet_valid(
    name: str, offset: float, valid: bool
) -> None:
    """``iat``/``nbf`` up to leeway in the future pass; any later is rejected."""
    claims = make_claims(exp=NOW + 600, **{name: NOW + offset})
    if valid:
        validate_access_claims(claims, POLICY, now=NOW)
    else:
        assert reason_of(claims) == "not_yet_valid"


@pytest.mark.parametrize("gap", [0.0, -1.0])
def test_exp_not_after_iat_is_invalid(gap: float) -> None:
    """``exp <= iat`` is an invalid token even if both are otherwise acceptable."""
    assert reason_of(make_claims(iat=NOW, exp=NOW + gap)) == "invalid_claim"


@pytest.mark.parametrize(("lifetime", "valid"), [(900.0, True), (900.001, False), (86400, False)])
def test_lifetime_over_policy_is_rejected(lifetime: float, valid: bool) -> None:
    """``exp - iat`` may equal the policy maximum but not exceed it."""
    claims = make_claims(iat=NOW - 10, exp=NOW - 10 + lifetime)
    if valid:
        validate_access_claims(claims, POLICY, now=NOW)
    else:
        assert reason_of(claims) == "lifetime_too_long"


def test_huge_integer_time_is_an_invalid_claim() -> None:
    """An integer exp beyond float range (valid JSON) is rejected as invalid_claim."""
    assert reason_of(make_claims(exp=10**400)) == "invalid_claim"


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
CLAIM_NAMES = st.sampled_from([*REQUIRED, "nbf", "name"]) | st.text(max_size=5)


@given(
    st.dictionaries(CLAIM_NAMES, JSON_VALUES, max_size=12),
    st.booleans(),
)
def test_random_claims_only_ever_raise_invalid_token_error(
    random_claims: dict[str, Any], start_valid: bool
) -> None:
    """Whatever the claims, validation returns AccessClaims or raises InvalidTokenError."""
    claims = {**make_claims(), **random_claims} if start_valid else random_claims
    try:
        result = validate_access_claims(claims, POLICY, now=NOW)
    except InvalidTokenError:
        return
    assert isinstance(result, AccessClaims)
    assert result.exp > NOW - POLICY.leeway_s
