"""GCS specifics against the emulator: settings."""

from __future__ import annotations

import uuid

import pytest

from qaflow.config import Settings
from qaflow.storage import open_store
from tests.support.gcs_emulator import GcsServer


@pytest.mark.integration
def test_open_store_uses_the_gcs_settings(gcs_server: GcsServer) -> None:
    settings = Settings(
        storage_url=f"{gcs_server.url}/settings-{uuid.uuid4().hex}",
        gcs_endpoint_url=gcs_server.endpoint_url,
        gcs_project=gcs_server.project,
    )
    store = open_store(settings)

    store.put_bytes("hello.txt", b"hi")

    assert store.get_bytes("hello.txt") == b"hi"
    assert [info.key for info in store.list()] == ["hello.txt"]
    store.delete("hello.txt")
