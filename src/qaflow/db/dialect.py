"""Dialect-specific SQL shared by the layers above (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qaflow.db.models import Base
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
        raise ConfigurationError(f"qaflow does not support the {dialect} database")
    session.execute(statement, [dict(row) for row in rows])
