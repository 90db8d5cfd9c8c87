"""GCS specifics against the emulator: settings."""

from __future__ import annotations

import uuid

import pytest

from qaflow.config import Settings
from qaflow.storage import ObjectStore, open_store
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


@pytest.mark.integration
def test_check_names_a_bucket_that_does_not_exist(gcs_server: GcsServer) -> None:
    from qaflow.errors import ConfigurationError

    def store_at(url: str) -> ObjectStore:
        return open_store(
            Settings(
                storage_url=url,
                gcs_endpoint_url=gcs_server.endpoint_url,
                gcs_project=gcs_server.project,
            )
        )

    store_at(f"{gcs_server.url}/p").check()
    with pytest.raises(ConfigurationError, match=r"bucket 'no-such-bucket-q' .* does not exist"):
        store_at("gs://no-such-bucket-q/p").check()
