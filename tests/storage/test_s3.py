"""S3 specifics: multipart uploads, unreachable endpoints, credentials, settings."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from qaflow.config import Settings
from qaflow.errors import NotFoundError, QaflowError, StorageError
from qaflow.storage import ObjectStore, open_store, open_store_url
from tests.storage.sources import MIB, chunks_of, source_of
from tests.support.seaweed import S3Server, free_ports


def pending_uploads(server: S3Server) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **server.storage_options())
    return [upload["Key"] for upload in fs.list_multipart_uploads(server.bucket)]


@pytest.mark.integration
def test_failed_write_aborts_the_multipart_upload(
    s3_server: S3Server, s3_store: ObjectStore
) -> None:
    def attempt() -> None:
        with s3_store.open_write("aborted.bin") as target:
            for chunk in chunks_of(10 * MIB):
                target.write(chunk)
            assert any(key.endswith("/aborted.bin") for key in pending_uploads(s3_server))
            raise RuntimeError("client failed")

    with pytest.raises(RuntimeError, match="client failed"):
        attempt()

    assert not any(key.endswith("/aborted.bin") for key in pending_uploads(s3_server))
    assert not s3_store.exists("aborted.bin")


@pytest.mark.integration
def test_object_deleted_mid_read_raises_a_qaflow_error(s3_store: ObjectStore) -> None:
    s3_store.put_file("vanishing.bin", source_of(12 * MIB))

    with pytest.raises(QaflowError), s3_store.open_read("vanishing.bin") as source:  # noqa: PT012
        source.read(MIB)
        s3_store.delete("vanishing.bin")
        source.read(11 * MIB)


def test_unreachable_endpoint_raises_storage_error() -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = open_store_url(
        "s3://bucket/prefix",
        options={"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s"},
    )

    with pytest.raises(StorageError, match=r"s3://bucket/prefix") as caught:
        store.exists("key")
    assert "EndpointConnectionError" in str(caught.value)


@pytest.mark.integration
def test_wrong_secret_raises_storage_error_about_credentials(s3_server: S3Server) -> None:
    options = {**s3_server.storage_options(), "secret": "not-the-secret"}
    store = open_store_url(f"{s3_server.url}/denied", options=options)

    with pytest.raises(StorageError, match="credentials"):
        store.get_bytes("anything")
    with pytest.raises(StorageError, match="credentials"):
        store.put_bytes("anything", b"x")


@pytest.mark.integration
def test_write_to_missing_bucket_is_a_storage_error(s3_server: S3Server) -> None:
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = open_store_url(f"s3://{bucket}", options=s3_server.storage_options())

    with pytest.raises(StorageError) as caught:
        store.put_bytes("key", b"x")
    assert not isinstance(caught.value, NotFoundError)


@pytest.mark.integration
def test_open_store_uses_the_s3_settings(s3_server: S3Server) -> None:
    settings = Settings(
        storage_url=f"{s3_server.url}/settings-{uuid.uuid4().hex}",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key_id=SecretStr(s3_server.access_key_id),
        s3_secret_access_key=SecretStr(s3_server.secret_access_key),
        s3_region=s3_server.region,
    )
    store = open_store(settings)

    store.put_bytes("hello.txt", b"hi")

    assert store.url == settings.storage_url
    assert store.get_bytes("hello.txt") == b"hi"
    store.delete("hello.txt")


@pytest.mark.integration
def test_check_names_a_bucket_that_does_not_exist(s3_server: S3Server) -> None:
    from qaflow.errors import ConfigurationError

    existing = open_store_url(f"{s3_server.url}/p", options=s3_server.storage_options())
    existing.check()  # an empty prefix of a real bucket is fine
    missing = open_store_url("s3://no-such-bucket-q/p", options=s3_server.storage_options())
    assert list(missing.list("incoming/")) == []  # looks like an empty bucket...
    with pytest.raises(ConfigurationError, match=r"bucket 'no-such-bucket-q' .* does not exist"):
        missing.check()  # ...which check tells apart
