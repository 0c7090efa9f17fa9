"""Load: many concurrent sessions and arrivals, within what the machine can hold."""

from authdrill.load._driver import LoadDriver, LoadProfile
from authdrill.load._limits import ensure_capacity, files_needed

__all__ = ["LoadDriver", "LoadProfile", "ensure_capacity", "files_needed"]
