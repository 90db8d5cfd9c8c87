"""Fixtures for tests of code that stores files: a database session and empty object stores.

Imported by the conftest of each test package that needs them (not the root one: several test
modules define a ``store`` of their own).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from qaflow.storage import ObjectStore, open_store_url
from tests.support.seaweed import S3Server


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as opened:
        yield opened


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """An empty store: a local directory, or a fresh prefix of the session's S3 bucket."""
    if request.param == "local":
        yield open_store_url(str(tmp_path / "storage"))
        return
    server: S3Server = request.getfixturevalue("s3_server")
    opened = open_store_url(f"{server.url}/t-{uuid.uuid4().hex}", options=server.storage_options())
    yield opened
    for info in list(opened.list()):
        opened.delete(info.key)


@pytest.fixture
def local_store(tmp_path: Path) -> ObjectStore:
    return open_store_url(str(tmp_path / "storage"))
