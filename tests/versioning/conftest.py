"""Fixtures for the versioning tests: a migrated database session and an object store."""

from tests.support.store_fixtures import local_store, session, store

__all__ = ["local_store", "session", "store"]
