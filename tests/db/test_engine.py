from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qaflow.db import check_connection, create_db_engine, create_session_factory
from qaflow.db import upgrade_database as upgrade
from qaflow.errors import ConfigurationError, DatabaseError


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_check_connection_succeeds(db_engine: Engine) -> None:
    check_connection(db_engine)


def test_sqlite_creates_parent_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "qaflow.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert path.is_file()
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_in_memory_sqlite_works() -> None:
    engine = create_db_engine("sqlite://")
    upgrade(engine)
    with create_session_factory(engine)() as session:
        assert session.execute(text("SELECT count(*) FROM answers")).scalar() == 0
    engine.dispose()


def test_unreachable_postgres_raises_database_error_with_masked_password() -> None:
    url = f"postgresql+psycopg://qa:s3cret-pw@127.0.0.1:{_closed_port()}/qaflow"
    engine = create_db_engine(url)
    try:
        with pytest.raises(DatabaseError) as raised:
            check_connection(engine)
    finally:
        engine.dispose()
    message = str(raised.value)
    assert "s3cret-pw" not in message
    assert "qa:***@127.0.0.1" in message
    # The driver's own error stays attached for debugging.
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)


def test_unreachable_postgres_raises_database_error_from_sessions_and_upgrade() -> None:
    engine = create_db_engine(f"postgresql+psycopg://qa:pw@127.0.0.1:{_closed_port()}/qaflow")
    try:
        with pytest.raises(DatabaseError, match="cannot connect to the database"):
            upgrade(engine)
        with create_session_factory(engine)() as session, pytest.raises(DatabaseError):
            session.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_unopenable_sqlite_file_raises_database_error(tmp_path: Path) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "qaflow.db").mkdir()
    engine = create_db_engine(f"sqlite:///{tmp_path / 'qaflow.db'}")
    with pytest.raises(DatabaseError, match="cannot connect"):
        check_connection(engine)
    engine.dispose()


def test_uncreatable_sqlite_directory_raises_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigurationError, match="cannot create the directory"):
        create_db_engine(f"sqlite:///{tmp_path / 'file' / 'qaflow.db'}")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_bare_postgresql_url_uses_psycopg(scheme: str) -> None:
    engine = create_db_engine(f"{scheme}://qa@127.0.0.1/qaflow")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


@pytest.mark.parametrize("url", ["not a url", "mysql+pymysql://qa@localhost/qaflow"])
def test_unsupported_or_invalid_url_raises_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        create_db_engine(url)
