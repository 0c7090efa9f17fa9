"""Fixtures shared by every test: an isolated state directory and a time unit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run records of this test session live in a private directory."""
    path = tmp_path_factory.mktemp("authdrill-state")
    previous = os.environ.get("AUTHDRILL_STATE_DIR")
    os.environ["AUTHDRILL_STATE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("AUTHDRILL_STATE_DIR", None)
    else:
        os.environ["AUTHDRILL_STATE_DIR"] = previous
