"""Writing answers: the idempotent insert the batch egress relies on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qaflow.db.failures import database_errors
from qaflow.db.models import AnswerRecord
from qaflow.errors import ConfigurationError, InvalidInputError


def upsert_answers(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert answer rows, skipping those already stored: the same row of the same input
    content under the same pipeline version.

    Keys are :class:`AnswerRecord` attribute names; rows may leave optional ones out.
    Rows without a ``datum_id`` (online answers) are always inserted. Returns how many rows
    were actually inserted. Runs in the session's transaction: the caller commits (or, after
    an error, rolls back).
    """
    if not rows:
        return 0
    _check_keys(rows)
    engine = session.get_bind()
    statement = _insert_skipping_stored(engine.dialect.name).returning(AnswerRecord.id)
    with database_errors(engine.engine, "storing answers"):
        inserted = session.execute(statement, [dict(row) for row in rows]).all()
    return len(inserted)


def _insert_skipping_stored(dialect: str) -> sqlite.Insert | postgresql.Insert:
    # No conflict target: any unique key a row collides on means it is stored already (today
    # the one key of batch rows, (pipeline, version, input, row)).
    if dialect == "sqlite":
        return sqlite.insert(AnswerRecord).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(AnswerRecord).on_conflict_do_nothing()
    raise ConfigurationError(f"upsert_answers does not support {dialect}")


def _check_keys(rows: Sequence[Mapping[str, Any]]) -> None:
    known = set(inspect(AnswerRecord).columns.keys())
    for index, row in enumerate(rows):
        unknown = set(row) - known
        if unknown:
            raise InvalidInputError(
                f"answer row {index} has unknown fields {sorted(unknown)}; "
                f"known fields: {sorted(known)}"
            )
