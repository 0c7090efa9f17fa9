"""Built-in target files (package data read with :mod:`importlib.resources`)."""
