"""Database fixtures: a session-wide PostgreSQL server and a fresh database URL per test.

``database_url`` runs each test on SQLite and on PostgreSQL; the server starts only when a
PostgreSQL case runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import create_db_engine, create_session_factory, upgrade_database
from tests.support.postgres import PostgresServer, PostgresUnavailableError, running_postgres
from tests.support.require import missing_service


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with ExitStack() as stack:
        try:
            server = stack.enter_context(running_postgres())
        except PostgresUnavailableError as exc:
            missing_service(f"PostgreSQL: {exc}")
        yield server


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qaflow.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"qaflow_test_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database (no schema yet)."""
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine: Engine) -> sessionmaker[Session]:
    """Sessions on a database upgraded to the newest schema."""
    upgrade_database(db_engine)
    return create_session_factory(db_engine)
