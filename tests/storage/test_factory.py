"""Building stores from URLs: schemes, optional extras, secrets kept out of the URL."""

from __future__ import annotations

import sys

import pytest

from qaflow.errors import ConfigurationError
from qaflow.storage import open_store_url


@pytest.mark.parametrize("url", ["ftp://host/dir", "hdfs://nn/path", "azure://c/p"])
def test_unsupported_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unsupported storage URL"):
        open_store_url(url)


@pytest.mark.parametrize(
    ("url", "module", "message"),
    [
        ("s3://bucket", "s3fs", "s3:// storage needs the 's3' extra: pip install 'qaflow[s3]'"),
        ("gs://bucket", "gcsfs", "gs:// storage needs the 'gcs' extra: pip install 'qaflow[gcs]'"),
    ],
)
def test_missing_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, message: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like

    with pytest.raises(ConfigurationError) as caught:
        open_store_url(url)
    assert str(caught.value) == message


def test_bucket_is_required() -> None:
    with pytest.raises(ConfigurationError, match="names no bucket"):
        open_store_url("s3:///prefix")


def test_display_url_has_no_secrets() -> None:
    store = open_store_url(
        "s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket/some/prefix?token=abc",
        options={"endpoint_url": "http://127.0.0.1:1", "key": "k", "secret": "s"},
    )

    assert store.url == "s3://bucket/some/prefix"
    assert "wJalr" not in repr(store)


def test_gcs_store_for_an_emulator_needs_no_credentials() -> None:
    store = open_store_url("gs://bucket/p", options={"endpoint_url": "http://127.0.0.1:1"})

    assert store.url == "gs://bucket/p"
