"""Alembic migrations, run by :func:`qaflow.db.upgrade_database`."""
