"""SQL helpers of the pipeline: the compare-and-set UPDATE workers coordinate with, and IN lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Update
from sqlalchemy.orm import Session

IN_CHUNK = 500


def updated_one(session: Session, statement: Update) -> bool:
    """Run ``statement`` in the session's transaction; True when it changed exactly one row.

    Its WHERE clause states what the caller last saw: a concurrent change makes it match none.
    """
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount == 1


def in_chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices of :data:`IN_CHUNK`, each small enough for one SQL ``IN`` list."""
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]
