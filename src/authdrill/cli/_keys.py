"""``authdrill keys list|rotate|remove``: manage the auth service's signing keys.

A running auth notices changes within ``--key-reload-interval`` (default 1 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from authdrill.errors import KeyStoreError
from authdrill.stack.auth.app import JWKS_MAX_AGE_S
from authdrill.stack.auth.authority import DEFAULT_LEEWAY_S
from authdrill.stack.auth.keyring import load_or_create, remove, rotate

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``keys`` and its actions."""
    parser = commands.add_parser("keys", help="list, rotate or remove auth's signing keys")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    default_dir = os.environ.get("AUTHDRILL_AUTH_DATA_DIR", ".authdrill/auth")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--data-dir", type=Path, default=Path(default_dir), help="auth's data directory"
        )

    listing = actions.add_parser("list", help="show every key and its state")
    common(listing)
    listing.set_defaults(handler=_list)

    rotating = actions.add_parser(
        "rotate", help="next key starts signing; current retires; a new next is published"
    )
    common(rotating)
    rotating.add_argument("--algorithm", default="ES256", choices=("ES256", "EdDSA", "RS256"))
    rotating.add_argument(
        "--access-ttl", type=float, default=900.0, help="auth's access-token lifetime, seconds"
    )
    rotating.add_argument(
        "--min-published",
        type=float,
        default=float(JWKS_MAX_AGE_S),
        help="seconds the next key must have been published before it may sign",
    )
    rotating.add_argument("--force", action="store_true", help="rotate even if next is too new")
    rotating.set_defaults(handler=_rotate)

    removing = actions.add_parser("remove", help="unpublish a (compromised) key at once")
    common(removing)
    removing.add_argument("kid", help="the key's kid (put -- before a kid that begins with -)")
    removing.set_defaults(handler=_remove)


def _show(ring: Any) -> None:
    now = time.time()
    for record in ring.records:
        age = now - record.created_at
        print(f"{record.state:8} {record.alg:6} {record.kid}  (created {age:.0f} s ago)")


def _guarded(action: Any) -> int:
    try:
        _show(action())
    except KeyStoreError as exc:
        print(f"authdrill keys: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _list(ns: argparse.Namespace) -> int:
    if not (ns.data_dir / "keys" / "keyring.json").exists():
        print(f"authdrill keys: error: no keyring in {ns.data_dir / 'keys'}", file=sys.stderr)
        return 2
    return _guarded(lambda: load_or_create(ns.data_dir / "keys", alg="ES256"))


def _rotate(ns: argparse.Namespace) -> int:
    return _guarded(
        lambda: rotate(
            ns.data_dir / "keys",
            alg=ns.algorithm,
            retire_after_s=ns.access_ttl + DEFAULT_LEEWAY_S,
            min_published_s=ns.min_published,
            force=ns.force,
        )
    )


def _remove(ns: argparse.Namespace) -> int:
    return _guarded(lambda: remove(ns.data_dir / "keys", ns.kid))
