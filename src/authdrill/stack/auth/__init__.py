"""Reference stack."""
