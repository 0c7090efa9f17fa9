"""Broken: an auth that generates new signing keys at every start.

Its keys are not persisted (the key directory is wiped at start). After a crash and
restart every token issued before is signed by a key nobody publishes any more. The
auth-outage drill fails at *restore* (and old sessions break in *recover*).
"""

from __future__ import annotations

import shutil
import sys

from authdrill.stack.auth.app import AuthService, open_auth
from authdrill.stack.auth.settings import AuthSettings
from authdrill.stack.server import serve_main

__all__: list[str] = []


async def _open(settings: AuthSettings) -> AuthService:
    shutil.rmtree(settings.data_dir / "keys", ignore_errors=True)  # the mistake: keys not kept
    return await open_auth(settings)


if __name__ == "__main__":
    sys.exit(serve_main("auth", _open))
