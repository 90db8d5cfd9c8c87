"""Dialect-specific SQL the versioning code needs (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qaflow.db import Base, Repo
from qaflow.errors import ConfigurationError


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_ignoring_duplicates(
    session: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, in the session's transaction."""
    dialect = dialect_name(session)
    if dialect == "sqlite":
        statement: Any = sqlite.insert(model).on_conflict_do_nothing(
            index_elements=list(conflict_columns)
        )
    elif dialect == "postgresql":
        statement = postgresql.insert(model).on_conflict_do_nothing(
            index_elements=list(conflict_columns)
        )
    else:
        raise ConfigurationError(f"qaflow's versioning does not support {dialect}")
    session.execute(statement, [dict(row) for row in rows])


def lock_repo(session: Session, repo_id: int) -> None:
    """Hold the repo's row lock until the transaction ends, so its commits get one seq each.

    PostgreSQL locks the row. SQLite has no row locks and SELECT starts no write transaction,
    so a no-op UPDATE takes the database's write lock: concurrent committers queue there
    (busy_timeout) and each then reads the latest seq.
    """
    if dialect_name(session) == "postgresql":
        session.execute(select(Repo.id).where(Repo.id == repo_id).with_for_update())
    else:
        statement = update(Repo).where(Repo.id == repo_id).values(id=Repo.id)
        session.execute(statement.execution_options(synchronize_session=False))
