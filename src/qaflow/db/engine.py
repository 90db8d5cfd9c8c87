"""Engines and sessions for SQLite and PostgreSQL, built from a URL (nothing at import time)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db.failures import database_errors, masked_url, wrap_connect_failure
from qaflow.db.migrate import current_revision, upgrade_database
from qaflow.errors import ConfigurationError

__all__ = [
    "check_connection",
    "create_db_engine",
    "create_session_factory",
    "current_revision",
    "upgrade_database",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_db_engine(url: str) -> Engine:
    """An engine for a ``sqlite:///...`` or ``postgresql+psycopg://...`` URL.

    Nothing is connected yet. Failing to connect later raises :class:`qaflow.errors.DatabaseError`.
    A bare ``postgresql://`` (or ``postgres://``) URL gets the psycopg 3 driver.
    """
    parsed = _parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _create_sqlite_engine(parsed)
    elif backend in ("postgresql", "postgres"):
        # postgres:// is the spelling of Heroku-style URLs; SQLAlchemy knows only postgresql.
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = _create_engine(parsed, pool_pre_ping=True)
    else:
        raise ConfigurationError(
            f"unsupported database {masked_url(parsed)}: qaflow supports SQLite and PostgreSQL"
        )
    event.listen(engine, "handle_error", wrap_connect_failure)
    return engine


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``.

    Objects stay readable after commit (``expire_on_commit=False``) so services can return them.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    """Run a trivial query; raises :class:`qaflow.errors.DatabaseError` when that fails."""
    with database_errors(engine, "checking the connection"), engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ConfigurationError(f"invalid database URL {url!r}: {exc}") from exc


def _create_engine(url: URL, **options: Any) -> Engine:
    try:
        return create_engine(url, **options)
    except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        hint = " (install qaflow[postgres])" if url.get_backend_name() == "postgresql" else ""
        raise ConfigurationError(
            f"no driver for the database {masked_url(url)}: {exc}{hint}"
        ) from exc
    except sa_exc.ArgumentError as exc:
        raise ConfigurationError(f"invalid database URL {masked_url(url)}: {exc}") from exc


def _is_sqlite_file(url: URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and not url.query.get("uri")


def _create_sqlite_engine(url: URL) -> Engine:
    on_disk = _is_sqlite_file(url)
    if on_disk:
        directory = Path(url.database or "").parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the directory {directory} for the SQLite database: {exc}"
            ) from exc
    engine = _create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first, so the journal-mode switch below waits for a lock too.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if on_disk:
                # WAL lets readers run beside the writer; NORMAL sync is durable enough with it.
                _enable_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    return engine


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    # Switching a new file to WAL fails at once, without the busy handler, while another
    # connection is doing the same; retry for as long as any other lock would be waited on.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
