"""Schema migrations: Alembic, driven from code with the revisions shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from qaflow.db.failures import database_errors, masked_url
from qaflow.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any fixed 64-bit key works; all qaflow processes agree on this one.
_POSTGRES_MIGRATION_LOCK = 7_251_846_013_511_003_251


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for qaflow's migrations, for a URL or an open connection.

    Developers can pass it to ``alembic.command`` (e.g. ``revision(..., autogenerate=True)``).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation would read a '%' in a password as a reference.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of qaflow ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigurationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database qaflow never upgraded."""
    with database_errors(engine, "reading the schema revision"), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    Safe to run from several processes at once: PostgreSQL serialises them on an advisory
    lock, SQLite on its write lock (BEGIN IMMEDIATE). Each runs in one transaction, so a
    waiting process sees the finished schema and has nothing left to do.
    """
    with (
        database_errors(engine, "upgrading the schema"),
        engine.connect() as connection,
        connection.begin(),
    ):
        _lock_schema(connection)
        try:
            command.upgrade(alembic_config(connection=connection), "head")
        except CommandError as exc:
            raise ConfigurationError(
                f"cannot upgrade the schema of {masked_url(engine.url)}: {exc} "
                "(was it created by a newer qaflow?)"
            ) from exc


def _lock_schema(connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Transaction-scoped: released by the commit or rollback that ends the upgrade.
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK}
        )
    elif dialect == "sqlite":
        # pysqlite would run the DDL outside any transaction; take the write lock up front
        # so the whole upgrade is one transaction and concurrent upgraders wait (busy_timeout).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
