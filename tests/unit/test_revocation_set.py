"""Revoked sessions in memory, and the shape check of auth's revocation feed page."""

from __future__ import annotations

from typing import Any

import pytest

from authdrill.stack.backend.revocation_feed import parse_feed_page
from authdrill.stack.backend.revocation_set import RevocationSet


def test_add_returns_only_sids_not_seen_before() -> None:
    """The returned set holds the sids that were new to the set, nothing else."""
    revoked = RevocationSet()
    assert revoked.add([("a", 10.0), ("b", 10.0)]) == {"a", "b"}
    assert revoked.add([("b", 20.0), ("c", 5.0)]) == {"c"}
    assert revoked.add([]) == set()
    assert len(revoked) == 3
    assert "a" in revoked
    assert "zzz" not in revoked


def test_add_duplicates_in_one_batch_counts_once() -> None:
    """A sid repeated in one batch is new once."""
    revoked = RevocationSet()
    assert revoked.add([("a", 10.0), ("a", 30.0)]) == {"a"}
    assert len(revoked) == 1


@pytest.mark.parametrize(("first", "second"), [(10.0, 30.0), (30.0, 10.0)])
def test_add_keeps_the_later_expiry(first: float, second: float) -> None:
    """A sid re-added keeps whichever expiry is later, whatever the order."""
    revoked = RevocationSet()
    revoked.add([("a", first)])
    revoked.add([("a", second)])
    assert revoked.prune(29.999) == 0
    assert "a" in revoked
    assert revoked.prune(30.0) == 1


def test_prune_forgets_at_the_boundary_and_keeps_later_ones() -> None:
    """Entries with ``expires_at <= now`` go; later ones stay."""
    revoked = RevocationSet()
    revoked.add([("old", 9.0), ("edge", 10.0), ("live", 10.001)])
    assert revoked.prune(10.0) == 2
    assert "live" in revoked
    assert "edge" not in revoked
    assert "old" not in revoked
    assert revoked.prune(10.0) == 0


VALID_PAGE: dict[str, Any] = {
    "feed_id": "feed-1",
    "cursor": 42,
    "more": True,
    "revoked": [{"sid": "s1", "expires_at": 100}, {"sid": "s2", "expires_at": 200.5}],
}


def test_parse_valid_feed_page() -> None:
    """A well-formed page becomes (feed_id, cursor, more, [(sid, expires_at)])."""
    assert parse_feed_page(VALID_PAGE) == ("feed-1", 42, True, [("s1", 100.0), ("s2", 200.5)])


def test_parse_empty_feed_page() -> None:
    """A page with no revocations is valid."""
    page = {**VALID_PAGE, "more": False, "revoked": []}
    assert parse_feed_page(page) == ("feed-1", 42, False, [])


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in VALID_PAGE.items() if k != key}


@pytest.mark.parametrize(
    "page",
    [
        None,
        [],
        "page",
        42,
        {},
        _without("feed_id"),
        _without("cursor"),
        _without("more"),
        _without("revoked"),
        {**VALID_PAGE, "feed_id": 1},
        {**VALID_PAGE, "feed_id": None},
        {**VALID_PAGE, "cursor": "42"},
        {**VALID_PAGE, "cursor": 4.2},
        {**VALID_PAGE, "more": "false"},
        {**VALID_PAGE, "more": 0},
        {**VALID_PAGE, "revoked": None},
        {**VALID_PAGE, "revoked": 5},
        {**VALID_PAGE, "revoked": "s1"},
        {**VALID_PAGE, "revoked": [None]},
        {**VALID_PAGE, "revoked": ["s1"]},
        {**VALID_PAGE, "revoked": [{"sid": "s1"}]},
        {**VALID_PAGE, "revoked": [{"expires_at": 1}]},
        {**VALID_PAGE, "revoked": [{"sid": "s1", "expires_at": "soon"}]},
        {**VALID_PAGE, "revoked": [{"sid": "s1", "expires_at": None}]},
        {**VALID_PAGE, "revoked": [{"sid": "s1", "expires_at": [1]}]},
    ],
)
def test_malformed_feed_pages_raise_value_error(page: Any) -> None:
    """Every page not of the documented shape raises ValueError (never another error)."""
    with pytest.raises(ValueError, match=r"revocation (feed page|entry)"):
        parse_feed_page(page)


def test_huge_integer_expiry_is_malformed() -> None:
    """An expires_at integer beyond float range is a malformed page."""
    page = {**VALID_PAGE, "revoked": [{"sid": "s1", "expires_at": 10**400}]}
    with pytest.raises(ValueError, match=r"revocation (feed page|entry)"):
        parse_feed_page(page)
