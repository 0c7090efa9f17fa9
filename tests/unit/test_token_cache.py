"""The verified-token cache (pure): expiry, FIFO bound, session drops."""

from __future__ import annotations

import pytest

from authdrill.stack.backend.token_cache import TokenCache
from authdrill.stack.claims import AccessClaims

NOW = 1_000.0


def claims(sid: str = "s1", *, exp: float = NOW + 60, jti: str = "j") -> AccessClaims:
    return AccessClaims(sub="u", sid=sid, jti=jti, iat=NOW - 1, exp=exp)


def test_hit_returns_the_stored_claims_and_miss_returns_none() -> None:
    """A put token is found under its exact string; any other string misses."""
    cache = TokenCache(10)
    stored = claims()
    cache.put("a.b.c", stored, NOW)
    assert cache.get("a.b.c", NOW) is stored
    assert cache.get("a.b.d", NOW) is None
    assert cache.get("a.b.c ", NOW) is None


@pytest.mark.parametrize("at", [NOW + 60, NOW + 61, NOW + 3600])
def test_entry_at_or_after_exp_is_never_returned_and_is_dropped(at: float) -> None:
    """At ``exp`` or later the entry is a miss and is removed."""
    cache = TokenCache(10)
    cache.put("t", claims(exp=NOW + 60), NOW)
    assert cache.get("t", at) is None
    assert len(cache) == 0
    assert cache.get("t", NOW) is None  # gone, not merely hidden


def test_entry_just_before_exp_is_returned() -> None:
    """Until the instant of ``exp`` the entry is still valid."""
    cache = TokenCache(10)
    cache.put("t", claims(exp=NOW + 60), NOW)
    assert cache.get("t", NOW + 59.999) is not None


@pytest.mark.parametrize("exp", [NOW, NOW - 1])
def test_put_ignores_an_already_expired_token(exp: float) -> None:
    """A token expired at insertion time is not stored."""
    cache = TokenCache(10)
    cache.put("t", claims(exp=exp), NOW)
    assert len(cache) == 0


def test_capacity_evicts_the_oldest_insertion() -> None:
    """At capacity, adding a new token evicts the first one inserted, not the newest."""
    cache = TokenCache(3)
    for token in ("t1", "t2", "t3"):
        cache.put(token, claims(), NOW)
    cache.get("t1", NOW)  # a read does not refresh its position (FIFO, not LRU)
    cache.put("t4", claims(), NOW)
    assert len(cache) == 3
    assert cache.get("t1", NOW) is None
    assert [cache.get(t, NOW) is not None for t in ("t2", "t3", "t4")] == [True, True, True]


def test_re_putting_an_existing_token_does_not_evict() -> None:
    """Putting a token already present at capacity keeps every entry."""
    cache = TokenCache(2)
    cache.put("t1", claims(), NOW)
    cache.put("t2", claims(), NOW)
    replacement = claims(jti="new")
    cache.put("t1", replacement, NOW)
    assert len(cache) == 2
    assert cache.get("t1", NOW) is replacement
    assert cache.get("t2", NOW) is not None


def test_drop_sessions_drops_only_those_sids() -> None:
    """Tokens of the named sessions go; others stay; the count is returned."""
    cache = TokenCache(10)
    cache.put("a1", claims("a"), NOW)
    cache.put("a2", claims("a"), NOW)
    cache.put("b1", claims("b"), NOW)
    cache.put("c1", claims("c"), NOW)
    assert cache.drop_sessions({"a", "c", "zzz"}) == 3
    assert cache.get("b1", NOW) is not None
    assert [cache.get(t, NOW) for t in ("a1", "a2", "c1")] == [None, None, None]
    assert cache.drop_sessions(set()) == 0


def test_clear_forgets_everything() -> None:
    """After clear the cache is empty."""
    cache = TokenCache(10)
    cache.put("t1", claims(), NOW)
    cache.put("t2", claims(), NOW)
    cache.clear()
    assert len(cache) == 0
    assert cache.get("t1", NOW) is None


@pytest.mark.parametrize("size", [0, -1])
def test_capacity_must_be_positive(size: int) -> None:
    """A cache that can hold nothing is a configuration mistake."""
    with pytest.raises(ValueError, match="max_entries"):
        TokenCache(size)
