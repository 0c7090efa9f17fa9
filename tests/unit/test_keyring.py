"""Signing keys on disk: creation, persistence, rotation, removal and refusals."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from authdrill.errors import KeyStoreError
from authdrill.stack.auth.keyring import (
    Keyring,
    load_or_create,
    reload_if_changed,
    remove,
    rotate,
    shell_safe_key,
)
from authdrill.stack.jose import parse_compact, sign, verify_signature
from authdrill.stack.jwk import generate_private_key, parse_jwks, thumbprint

T0 = 1_000_000.0
RETIRE = 3600.0  # retired keys stay published this long
MIN_PUBLISHED = 600.0
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keys"


@pytest.fixture
def ring(key_dir: Path) -> Keyring:
    return load_or_create(key_dir, alg="EdDSA", now=T0)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def by_state(ring: Keyring) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for record in ring.records:
        states.setdefault(record.state, []).append(record.kid)
    return states


def do_rotate(key_dir: Path, now: float, *, force: bool = False) -> Keyring:
    return rotate(
        key_dir,
        alg="EdDSA",
        retire_after_s=RETIRE,
        min_published_s=MIN_PUBLISHED,
        force=force,
        now=now,
    )


def rewrite_manifest(key_dir: Path, edit: Any) -> Path:
    """Apply ``edit`` to the manifest document and write it back with mode 0600."""
    manifest = key_dir / "keyring.json"
    document = json.loads(manifest.read_text())
    edit(document)
    manifest.write_text(json.dumps(document))
    manifest.chmod(0o600)
    return manifest


# ------------------------------------------------------------------ creation


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_first_load_creates_current_and_next_privately(key_dir: Path, alg: str) -> None:
    """A new keyring has one current and one next key; dir 0700, files 0600."""
    ring = load_or_create(key_dir, alg=alg, now=T0)
    states = by_state(ring)
    assert sorted(states) == ["current", "next"]
    assert len(states["current"]) == len(states["next"]) == 1
    assert states["current"] != states["next"]
    assert all(r.alg == alg and r.created_at == T0 and r.retired_at is None for r in ring.records)
    assert mode(key_dir) == 0o700
    assert mode(key_dir / "keyring.json") == 0o600
    for record in ring.records:
        pem = key_dir / f"{record.kid}.pem"
        assert mode(pem) == 0o600
        assert b"PRIVATE KEY" in pem.read_bytes()
        assert thumbprint(ring.private_keys[record.kid].public_key()) == record.kid


def test_second_load_returns_the_same_keys(key_dir: Path, ring: Keyring) -> None:
    """A restarted auth loads exactly the keys it had (same kids, same states)."""
    again = load_or_create(key_dir, alg="EdDSA", now=T0 + 100)
    assert again.records == ring.records
    assert again.signing_key()[0] == ring.signing_key()[0]


def test_signing_key_and_verification_keys_work_together(ring: Keyring) -> None:
    """A token signed with signing_key() verifies with the matching verification key."""
    kid, alg, private_key = ring.signing_key()
    assert (kid, alg) == (ring.current.kid, "EdDSA")
    keys = ring.verification_keys(now=T0, retire_after_s=RETIRE)
    assert set(keys) == {r.kid for r in ring.records}
    verify_signature(parse_compact(sign({"sub": "u"}, private_key, alg=alg, kid=kid)), keys[kid])


def test_jwks_holds_public_parts_with_kid_alg_use(ring: Keyring) -> None:
    """The JWKS lists next and current, public members only, and parses as trusted."""
    jwks = ring.jwks(now=T0, retire_after_s=RETIRE)
    assert {k["kid"] for k in jwks["keys"]} == {r.kid for r in ring.records}
    for jwk in jwks["keys"]:
        assert (jwk["alg"], jwk["use"]) == ("EdDSA", "sig")
        assert not PRIVATE_MEMBERS & jwk.keys()
    parsed = parse_jwks(json.loads(json.dumps(jwks)))
    assert parsed.skipped == ()
    assert set(parsed.keys) == {r.kid for r in ring.records}


# ------------------------------------------------------------------ rotation


def test_rotate_promotes_next_and_retires_current(key_dir: Path, ring: Keyring) -> None:
    """Rotation: next → current, current → retired (at now), and a fresh next appears."""
    old = by_state(ring)
    now = T0 + MIN_PUBLISHED
    rotated = do_rotate(key_dir, now)
    new = by_state(rotated)
    assert new["current"] == old["next"]
    assert new["retired"] == old["current"]
    assert len(new["next"]) == 1
    assert new["next"][0] not in old["current"] + old["next"]
    retired = next(r for r in rotated.records if r.state == "retired")
    assert retired.retired_at == now
    assert mode(key_dir / f"{new['next'][0]}.pem") == 0o600
    assert rotated.signing_key()[0] == old["next"][0]


def test_rotate_refuses_a_next_key_published_too_recently(key_dir: Path, ring: Keyring) -> None:
    """Before min_published_s the rotation is refused, pointing at --force."""
    with pytest.raises(KeyStoreError, match="--force") as info:
        do_rotate(key_dir, T0 + MIN_PUBLISHED - 1)
    assert info.value.path == str(key_dir)
    assert load_or_create(key_dir, alg="EdDSA").records == ring.records  # nothing changed


def test_rotate_with_force_ignores_the_publication_delay(key_dir: Path, ring: Keyring) -> None:
    """``force`` rotates even a next key published this very second."""
    rotated = do_rotate(key_dir, T0, force=True)
    assert rotated.current.kid == by_state(ring)["next"][0]


def test_published_drops_retired_keys_after_retire_after(key_dir: Path, ring: Keyring) -> None:
    """A retired key is published until retire_after_s has passed since retirement."""
    retired_at = T0 + MIN_PUBLISHED
    rotated = do_rotate(key_dir, retired_at)
    retired_kid = by_state(rotated)["retired"][0]

    def kids_at(now: float) -> set[str]:
        return {r.kid for r in rotated.published(now=now, retire_after_s=RETIRE)}

    assert retired_kid in kids_at(retired_at + RETIRE - 0.001)
    assert retired_kid not in kids_at(retired_at + RETIRE)
    assert len(kids_at(retired_at + RETIRE)) == 2  # current and next stay
    jwks_kids = {
        k["kid"] for k in rotated.jwks(now=retired_at + RETIRE, retire_after_s=RETIRE)["keys"]
    }
    assert retired_kid not in jwks_kids
    assert retired_kid not in rotated.verification_keys(
        now=retired_at + RETIRE, retire_after_s=RETIRE
    )


def test_rotate_prunes_old_retired_keys_and_their_files(key_dir: Path, ring: Keyring) -> None:
    """A retired key older than retire_after_s is removed from the manifest and disk."""
    first = by_state(ring)["current"][0]
    do_rotate(key_dir, T0 + MIN_PUBLISHED)  # first → retired
    second = do_rotate(key_dir, T0 + 2 * MIN_PUBLISHED)  # still within RETIRE: kept
    assert first in by_state(second)["retired"]
    assert (key_dir / f"{first}.pem").exists()
    third = do_rotate(key_dir, T0 + MIN_PUBLISHED + RETIRE)  # first is now too old
    assert first not in {r.kid for r in third.records}
    assert not (key_dir / f"{first}.pem").exists()
    assert len(by_state(third)["retired"]) == 2  # the two later ones are still needed


# ------------------------------------------------------------------ removal


def test_remove_refuses_the_current_key(key_dir: Path, ring: Keyring) -> None:
    """The signing key cannot be removed without rotating first."""
    with pytest.raises(KeyStoreError, match="rotate first"):
        remove(key_dir, ring.current.kid)
    assert (key_dir / f"{ring.current.kid}.pem").exists()


def test_remove_refuses_an_unknown_kid(key_dir: Path, ring: Keyring) -> None:
    """Removing a kid that is not in the keyring is an error naming it."""
    with pytest.raises(KeyStoreError, match="no key 'nope'"):
        remove(key_dir, "nope")


def test_remove_deletes_a_retired_key_from_manifest_and_disk(key_dir: Path, ring: Keyring) -> None:
    """A removed (compromised) retired key stops being published at once."""
    retired_kid = ring.current.kid
    do_rotate(key_dir, T0 + MIN_PUBLISHED)
    after = remove(key_dir, retired_kid)
    assert retired_kid not in {r.kid for r in after.records}
    assert not (key_dir / f"{retired_kid}.pem").exists()
    assert retired_kid not in {
        k["kid"] for k in after.jwks(now=T0 + MIN_PUBLISHED, retire_after_s=RETIRE)["keys"]
    }
    assert load_or_create(key_dir, alg="EdDSA").records == after.records


def test_rotate_without_next_creates_a_new_current(key_dir: Path, ring: Keyring) -> None:
    """After removing next, rotation makes a brand-new current key and a next key."""
    old_current, old_next = ring.current.kid, by_state(ring)["next"][0]
    remove(key_dir, old_next)
    rotated = do_rotate(key_dir, T0 + 1)
    states = by_state(rotated)
    assert states["retired"] == [old_current]
    assert states["current"][0] not in (old_current, old_next)
    assert len(states["next"]) == 1


# ------------------------------------------------------------------ refusals


def test_group_readable_pem_is_refused(key_dir: Path, ring: Keyring) -> None:
    """A key file readable by group is refused with an error naming it."""
    pem = key_dir / f"{ring.current.kid}.pem"
    pem.chmod(0o640)
    with pytest.raises(KeyStoreError, match="too open") as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path == str(pem)


def test_world_readable_manifest_is_refused(key_dir: Path, ring: Keyring) -> None:
    """The manifest is held to the same permission rule."""
    manifest = key_dir / "keyring.json"
    manifest.chmod(0o644)
    with pytest.raises(KeyStoreError, match="too open") as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path == str(manifest)


def test_corrupt_pem_is_refused(key_dir: Path, ring: Keyring) -> None:
    """A key file that is not a PEM private key is an error naming the file."""
    pem = key_dir / f"{ring.current.kid}.pem"
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyStoreError, match="not a readable PEM") as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path == str(pem)


def test_pem_not_matching_its_kid_is_refused(key_dir: Path, ring: Keyring) -> None:
    """Swapping two key files is detected: the key must hash to its kid."""
    current = key_dir / f"{ring.current.kid}.pem"
    upcoming = key_dir / f"{by_state(ring)['next'][0]}.pem"
    current_bytes = current.read_bytes()
    current.write_bytes(upcoming.read_bytes())
    upcoming.write_bytes(current_bytes)
    with pytest.raises(KeyStoreError, match="does not match its kid") as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path in {str(current), str(upcoming)}


def test_missing_pem_is_a_key_store_error(key_dir: Path, ring: Keyring) -> None:
    """A key listed in the manifest whose file is gone is a KeyStoreError naming it."""
    pem = key_dir / f"{ring.current.kid}.pem"
    pem.unlink()
    with pytest.raises(KeyStoreError) as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path == str(pem)


def _two_current(document: dict[str, Any]) -> None:
    for key in document["keys"]:
        key["state"] = "current"


def _no_current(document: dict[str, Any]) -> None:
    for key in document["keys"]:
        key["state"] = "next"


def _unknown_state(document: dict[str, Any]) -> None:
    document["keys"][-1]["state"] = "revoked"


def _unknown_version(document: dict[str, Any]) -> None:
    document["version"] = 99


def _bad_time(document: dict[str, Any]) -> None:
    document["keys"][0]["created_at"] = "yesterday"


def _no_keys(document: dict[str, Any]) -> None:
    del document["keys"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_two_current, "exactly one current"),
        (_no_current, "exactly one current"),
        (_unknown_state, "unknown state"),
        (_unknown_version, "unknown manifest version"),
        (_bad_time, "not a valid keyring manifest"),
        (_no_keys, "not a valid keyring manifest"),
    ],
)
def test_inconsistent_manifest_is_refused(
    key_dir: Path, ring: Keyring, edit: Any, message: str
) -> None:
    """A manifest with the wrong shape or states is an error naming the manifest."""
    manifest = rewrite_manifest(key_dir, edit)
    with pytest.raises(KeyStoreError, match=message) as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path == str(manifest)


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe", b"[]"])
def test_corrupt_manifest_is_refused(key_dir: Path, ring: Keyring, content: bytes) -> None:
    """A manifest that is not a JSON object is an error naming the manifest."""
    manifest = key_dir / "keyring.json"
    manifest.write_bytes(content)
    with pytest.raises(KeyStoreError, match="not a valid keyring manifest") as info:
        load_or_create(key_dir, alg="EdDSA")
    assert info.value.path == str(manifest)


# ------------------------------------------------------------------ reloading


def test_reload_if_changed(key_dir: Path, ring: Keyring) -> None:
    """Unchanged on disk → the same object; after a rotation → the rotated keyring."""
    assert reload_if_changed(ring) is ring
    rotated = do_rotate(key_dir, T0 + MIN_PUBLISHED)
    reloaded = reload_if_changed(ring)
    assert reloaded is not ring
    assert reloaded.records == rotated.records
    assert reload_if_changed(reloaded) is reloaded


# ------------------------------------------------------------------ kids on a command line


def _key_with_a_dash_kid() -> Any:
    """An ES256 key whose thumbprint starts with ``-`` (1 in 64; 2000 draws never miss)."""
    for _ in range(2000):
        key = generate_private_key("ES256")
        if thumbprint(key.public_key()).startswith("-"):
            return key
    raise AssertionError("no key with a '-' thumbprint in 2000 draws")


def test_a_kid_starting_with_a_dash_is_drawn_again() -> None:
    """A key whose kid would read as a command-line option is replaced by the next one."""
    dash, plain = _key_with_a_dash_kid(), generate_private_key("ES256")
    draws = iter([dash, dash, plain])
    kid, key = shell_safe_key(lambda: next(draws))
    assert key is plain
    assert kid == thumbprint(plain.public_key())
    assert not kid.startswith("-")


def test_a_generator_that_only_gives_dash_kids_is_an_error() -> None:
    """A generator stuck on such keys is an error, not an endless loop."""
    dash = _key_with_a_dash_kid()
    with pytest.raises(RuntimeError, match="starting with '-'"):
        shell_safe_key(lambda: dash)
