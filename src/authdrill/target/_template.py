"""``authdrill init``: a commented starter target file for the user's own services."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from authdrill.errors import ConfigError

__all__ = ["starter_text", "write_starter"]


def starter_text() -> str:
    """The starter target file: every key explained, for "my own auth + my own API"."""
    return resources.files("authdrill.target.builtin").joinpath("starter.toml").read_text("utf-8")


def write_starter(path: Path, *, force: bool = False) -> None:
    """Write :func:`starter_text` to ``path``; an existing file is kept unless ``force``.

    Raises:
        ConfigError: ``path`` exists (and not ``force``), or cannot be written (key ``path``).
    """
    try:
        with path.open("w" if force else "x", encoding="utf-8", newline="\n") as handle:
            handle.write(starter_text())
    except FileExistsError as exc:
        raise ConfigError("path", f"{path} exists; use --force to overwrite it") from exc
    except OSError as exc:
        raise ConfigError("path", f"cannot write {path}: {exc.strerror or exc}") from exc
