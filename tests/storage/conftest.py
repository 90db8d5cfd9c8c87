"""Fixtures for the object-store contract suite: one store per backend, isolated per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from qaflow.storage import ObjectStore, open_store_url
from tests.support.gcs_emulator import GcsServer
from tests.support.seaweed import S3Server

StoreOpener = Callable[[], ObjectStore]

STORE_KINDS = [
    "local",
    "file_url",
    pytest.param("s3", marks=pytest.mark.integration),
    pytest.param("gcs", marks=pytest.mark.integration),
]


@pytest.fixture(params=STORE_KINDS)
def open_test_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens a new store (own client) over a root no other test uses; emptied afterwards."""
    url, options = _test_root(request, request.param, tmp_path)

    def opener() -> ObjectStore:
        return open_store_url(url, options=options)

    yield opener
    _empty(opener())


@pytest.fixture
def store(open_test_store: StoreOpener) -> ObjectStore:
    return open_test_store()


@pytest.fixture
def s3_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """An S3 store under a unique prefix of the session's SeaweedFS bucket."""
    url, options = _test_root(request, "s3", tmp_path)
    yield open_store_url(url, options=options)
    _empty(open_store_url(url, options=options))


def _test_root(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> tuple[str, Mapping[str, Any] | None]:
    if kind == "local":
        return str(tmp_path / "root"), None
    if kind == "file_url":
        return f"file://{tmp_path / 'root'}", None
    server: S3Server | GcsServer = request.getfixturevalue(f"{kind}_server")
    return f"{server.url}/t-{uuid.uuid4().hex}", server.storage_options()


def _empty(store: ObjectStore) -> None:
    for info in list(store.list()):
        store.delete(info.key)
