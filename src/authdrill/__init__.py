"""authdrill: prove that users keep working when the auth service dies."""

from authdrill._version import __version__

__all__ = ["__version__"]
