"""Helpers for testing with real resources (a private PostgreSQL cluster)."""

from authdrill.testing.postgres import PostgresCluster, find_postgres_bin

__all__ = ["PostgresCluster", "find_postgres_bin"]
