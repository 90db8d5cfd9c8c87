"""The repo lock that gives each commit of a repo its own seq (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qaflow.db import Repo, dialect_name


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
