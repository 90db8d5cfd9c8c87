"""Alembic environment for qaflow.

:func:`qaflow.db.upgrade_database` passes an open connection (already inside a transaction and
holding the migration lock) in ``config.attributes["connection"]``. Without one, the
``sqlalchemy.url`` option is used, for developers running Alembic commands via
:func:`qaflow.db.alembic_config`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from qaflow.db.engine import create_db_engine
from qaflow.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run_on(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables in batch mode.
        render_as_batch=is_sqlite,
        # upgrade_database wraps SQLite in BEGIN IMMEDIATE, so its DDL is transactional too.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to the qaflow migrations")
    engine = create_db_engine(url)
    try:
        with engine.connect() as own_connection:
            _run_on(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
