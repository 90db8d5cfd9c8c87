"""The compare-and-set UPDATE that workers coordinate with."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Update
from sqlalchemy.orm import Session


def updated_one(session: Session, statement: Update) -> bool:
    """Run ``statement`` in the session's transaction; True when it changed exactly one row.

    Its WHERE clause states what the caller last saw: a concurrent change makes it match none.
    """
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount == 1
