"""Signing keys on disk: persisted, private, rotated with the next key published first.

Layout under ``<data_dir>/keys`` (directory 0700, files 0600)::

    keyring.json      which keys exist and their state (written atomically)
    <kid>.pem         one PKCS#8 private key per kid

Key states and their lifecycle::

    next ──rotate──▶ current ──rotate──▶ retired ──(tokens it signed expired)──▶ deleted

* ``current`` signs; there is exactly one.
* ``next`` is already published in the JWKS, so backends know it *before* it signs:
  a rotation never produces a token whose key a backend has not seen (once backends
  have refreshed since ``next`` appeared; :func:`rotate` refuses before
  ``min_published_s`` unless forced).
* ``retired`` stays published until every token it signed has expired, then goes.

A restarted auth loads the same keys and so signs and verifies exactly as before.
Loading refuses key files readable by group or others (like ssh does).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authdrill.errors import KeyStoreError
from authdrill.stack.jose import VerificationKey
from authdrill.stack.jwk import generate_private_key, public_jwk, thumbprint

__all__ = [
    "KeyRecord",
    "Keyring",
    "load_or_create",
    "reload_if_changed",
    "remove",
    "rotate",
    "shell_safe_key",
]

_MANIFEST = "keyring.json"
_LOCK = ".lock"
_FORMAT_VERSION = 1
_STATES = ("next", "current", "retired")
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "ES256": (ec.EllipticCurvePrivateKey,),
    "EdDSA": (ed25519.Ed25519PrivateKey,),
    "RS256": (rsa.RSAPrivateKey,),
}


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key's entry in the manifest (times are Unix seconds)."""

    kid: str
    alg: str
    state: str
    created_at: float
    retired_at: float | None = None


@dataclass(frozen=True, slots=True)
class Keyring:
    """The loaded keys: what signs, and what verifies."""

    directory: Path
    records: tuple[KeyRecord, ...]
    private_keys: dict[str, Any]
    mtime_ns: int

    @property
    def current(self) -> KeyRecord:
        """The record of the signing key."""
        return next(r for r in self.records if r.state == "current")

    def signing_key(self) -> tuple[str, str, Any]:
        """``(kid, alg, private_key)`` of the current key."""
        record = self.current
        return record.kid, record.alg, self.private_keys[record.kid]

    def published(self, *, now: float, retire_after_s: float) -> tuple[KeyRecord, ...]:
        """Keys to publish and trust: next, current, and retired ones still needed."""
        return tuple(
            r for r in self.records if r.retired_at is None or now - r.retired_at < retire_after_s
        )

    def verification_keys(self, *, now: float, retire_after_s: float) -> dict[str, VerificationKey]:
        """Every published key by kid."""
        return {
            r.kid: VerificationKey(kid=r.kid, alg=r.alg, key=self.private_keys[r.kid].public_key())
            for r in self.published(now=now, retire_after_s=retire_after_s)
        }

    def jwks(self, *, now: float, retire_after_s: float) -> dict[str, Any]:
        """The public JWK set: public parts only, each with kid, alg and use."""
        return {
            "keys": [
                public_jwk(self.private_keys[r.kid].public_key(), kid=r.kid, alg=r.alg)
                for r in self.published(now=now, retire_after_s=retire_after_s)
            ]
        }


def _check_private(path: Path) -> None:
    if os.name == "nt":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise KeyStoreError(str(path), f"cannot read: {exc.strerror}") from exc
    if mode & 0o077:
        raise KeyStoreError(str(path), f"permissions {mode:o} are too open; run chmod 600 on it")


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        Path(tmp).chmod(0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_KEYGEN_ATTEMPTS = 64  # each draw has a 1/64 chance of a kid starting with "-"


def shell_safe_key(generate: Callable[[], Any]) -> tuple[str, Any]:
    """A key from ``generate`` whose kid (its RFC 7638 thumbprint) does not start with ``-``.

    Such a kid would read as an option on a command line (``authdrill keys remove KID``)
    and make an awkward file name (``KID.pem``), so that key is drawn again.

    Raises:
        RuntimeError: ``generate`` kept giving such keys (it is not random: a bug).
    """
    for _ in range(_KEYGEN_ATTEMPTS):
        private_key = generate()
        kid = thumbprint(private_key.public_key())
        if not kid.startswith("-"):
            return kid, private_key
    raise RuntimeError(f"{_KEYGEN_ATTEMPTS} generated keys all had a kid starting with '-'")


def _new_key(directory: Path, alg: str, state: str, now: float) -> tuple[KeyRecord, Any]:
    kid, private_key = shell_safe_key(lambda: generate_private_key(alg))
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(directory / f"{kid}.pem", pem)
    return KeyRecord(kid=kid, alg=alg, state=state, created_at=now), private_key


def _save_manifest(directory: Path, records: tuple[KeyRecord, ...]) -> None:
    document = {
        "version": _FORMAT_VERSION,
        "keys": [
            {
                "kid": r.kid,
                "alg": r.alg,
                "state": r.state,
                "created_at": r.created_at,
                "retired_at": r.retired_at,
            }
            for r in records
        ],
    }
    _write_private(directory / _MANIFEST, json.dumps(document, indent=2).encode())


def _parse_manifest(path: Path) -> tuple[KeyRecord, ...]:
    try:
        document = json.loads(path.read_bytes())
        records = tuple(
            KeyRecord(
                kid=str(k["kid"]),
                alg=str(k["alg"]),
                state=str(k["state"]),
                created_at=float(k["created_at"]),
                retired_at=None if k.get("retired_at") is None else float(k["retired_at"]),
            )
            for k in document["keys"]
        )
    except OSError as exc:
        raise KeyStoreError(str(path), f"cannot read: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(str(path), f"not a valid keyring manifest: {exc}") from exc
    if document.get("version") != _FORMAT_VERSION:
        raise KeyStoreError(str(path), f"unknown manifest version {document.get('version')!r}")
    if [r.state for r in records].count("current") != 1:
        raise KeyStoreError(str(path), "manifest must have exactly one current key")
    if any(r.state not in _STATES for r in records):
        raise KeyStoreError(str(path), "manifest has a key in an unknown state")
    return records


def _load_private(path: Path) -> Any:
    _check_private(path)
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyStoreError(str(path), f"cannot read: {exc.strerror}") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyStoreError(str(path), "not a readable PEM private key") from exc


def _load(directory: Path) -> Keyring:
    manifest = directory / _MANIFEST
    _check_private(manifest)
    mtime_ns = manifest.stat().st_mtime_ns
    records = _parse_manifest(manifest)
    keys = {r.kid: _load_private(directory / f"{r.kid}.pem") for r in records}
    for r in records:
        path = str(directory / f"{r.kid}.pem")
        if not isinstance(keys[r.kid], _KEY_TYPES.get(r.alg, ())):
            raise KeyStoreError(path, f"key type {type(keys[r.kid]).__name__} does not fit {r.alg}")
        if thumbprint(keys[r.kid].public_key()) != r.kid:
            raise KeyStoreError(path, "key does not match its kid")
    return Keyring(directory=directory, records=records, private_keys=keys, mtime_ns=mtime_ns)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the key directory (POSIX; a no-op elsewhere)."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:
        yield
        return
    with (directory / _LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name != "nt":
            directory.chmod(0o700)
    except OSError as exc:
        raise KeyStoreError(str(directory), f"cannot create: {exc.strerror}") from exc


def load_or_create(directory: Path, *, alg: str, now: float | None = None) -> Keyring:
    """Load the keyring in ``directory``, creating current and next keys if it is new.

    Raises:
        KeyStoreError: a key file or the manifest is unreadable, corrupt, too open or
            inconsistent; the message names the file.
    """
    _ensure_directory(directory)
    with _locked(directory):
        if not (directory / _MANIFEST).exists():
            created = now if now is not None else time.time()
            current, _ = _new_key(directory, alg, "current", created)
            upcoming, _ = _new_key(directory, alg, "next", created)
            _save_manifest(directory, (current, upcoming))
        return _load(directory)


def reload_if_changed(keyring: Keyring) -> Keyring:
    """The keyring again if its manifest changed on disk, else ``keyring`` itself."""
    try:
        mtime_ns = (keyring.directory / _MANIFEST).stat().st_mtime_ns
    except OSError as exc:
        raise KeyStoreError(str(keyring.directory / _MANIFEST), f"cannot stat: {exc}") from exc
    if mtime_ns == keyring.mtime_ns:
        return keyring
    with _locked(keyring.directory):
        return _load(keyring.directory)


def rotate(
    directory: Path,
    *,
    alg: str,
    retire_after_s: float,
    min_published_s: float,
    force: bool = False,
    now: float | None = None,
) -> Keyring:
    """Promote next to current, retire current, publish a new next; prune old keys.

    Args:
        retire_after_s: how long a retired key stays published (the longest token
            lifetime plus leeway).
        min_published_s: how long ``next`` must have been published before it may sign
            (backends refresh their key sets within this time).
        force: rotate even if ``next`` is younger than ``min_published_s``.

    Raises:
        KeyStoreError: the keyring cannot be read or written, or ``next`` is too young
            and ``force`` is not set.
    """
    moment = now if now is not None else time.time()
    with _locked(directory):
        ring = _load(directory)
        upcoming = next((r for r in ring.records if r.state == "next"), None)
        if upcoming is not None and not force and moment - upcoming.created_at < min_published_s:
            raise KeyStoreError(
                str(directory),
                f"next key {upcoming.kid} was published {moment - upcoming.created_at:.0f} s ago; "
                f"backends may not have it yet (wait {min_published_s:.0f} s or use --force)",
            )
        records: list[KeyRecord] = []
        for r in ring.records:
            if r.state == "current":
                records.append(replace(r, state="retired", retired_at=moment))
            elif r.state == "next":
                records.append(replace(r, state="current"))
            elif r.retired_at is not None and moment - r.retired_at < retire_after_s:
                records.append(r)
            else:
                (directory / f"{r.kid}.pem").unlink(missing_ok=True)
        if upcoming is None:  # a keyring without next: a new key must sign at once
            records.append(_new_key(directory, alg, "current", moment)[0])
        fresh_next, _ = _new_key(directory, alg, "next", moment)
        records.append(fresh_next)
        _save_manifest(directory, tuple(records))
        return _load(directory)


def remove(directory: Path, kid: str) -> Keyring:
    """Stop publishing ``kid`` at once and delete it (for a compromised key).

    Backends stop trusting it at their next key-set refresh.

    Raises:
        KeyStoreError: no such key, or it is the current signing key (rotate first).
    """
    with _locked(directory):
        ring = _load(directory)
        record = next((r for r in ring.records if r.kid == kid), None)
        if record is None:
            raise KeyStoreError(str(directory), f"no key {kid!r}")
        if record.state == "current":
            raise KeyStoreError(str(directory), f"{kid} is the current signing key; rotate first")
        _save_manifest(directory, tuple(r for r in ring.records if r.kid != kid))
        (directory / f"{kid}.pem").unlink(missing_ok=True)
        return _load(directory)
