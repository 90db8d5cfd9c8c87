"""Building an object store from a URL or from the settings."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qaflow.config import Settings
from qaflow.errors import ConfigurationError
from qaflow.storage.base import ObjectStore
from qaflow.storage.fsspec_store import FsspecObjectStore

# Listing caches would hide objects that other processes write or delete.
_NO_CACHE_OPTIONS: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
_S3_DEFAULT_CONFIG: dict[str, Any] = {
    "connect_timeout": 10,
    "retries": {"max_attempts": 3, "mode": "standard"},
}


def open_store(settings: Settings) -> ObjectStore:
    """The object store at ``settings.resolved_storage_url``, with the S3/GCS settings applied."""
    url = settings.resolved_storage_url
    scheme = _scheme(url)
    options: dict[str, Any] = {}
    if scheme == "s3":
        options = _s3_options_from(settings)
    elif scheme in ("gs", "gcs"):
        options = _gcs_options_from(settings)
    return open_store_url(url, options=options)


def open_store_url(url: str, *, options: Mapping[str, Any] | None = None) -> ObjectStore:
    """The object store rooted at ``url``: a local path, ``file://``, ``s3://`` or ``gs://``.

    ``options`` go to the fsspec filesystem (e.g. ``endpoint_url``, ``key``, ``token``).
    """
    scheme = _scheme(url)
    extra = dict(options or {})
    if scheme in ("", "file"):
        return _open_local(url)
    if scheme == "s3":
        return _open_remote(url, "s3fs", "S3FileSystem", _s3_options(extra), extra_name="s3")
    if scheme in ("gs", "gcs"):
        class_path = "core.GCSFileSystem" if extra.get("endpoint_url") else "GCSFileSystem"
        return _open_remote(url, "gcsfs", class_path, _gcs_options(extra), extra_name="gcs")
    raise ConfigurationError(
        f"unsupported storage URL {_display_url(url)!r}: use a local directory, file://, "
        "s3://bucket/prefix or gs://bucket/prefix"
    )


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    # A Windows drive letter ("C:\\data") parses as a one-letter scheme.
    return "" if len(scheme) == 1 else scheme


def _open_local(url: str) -> ObjectStore:
    import fsspec.implementations.local

    raw_path = url[len("file://") :] if url.lower().startswith("file://") else url
    if not raw_path:
        raise ConfigurationError(f"storage URL {url!r} names no directory")
    directory = Path(raw_path).expanduser().absolute()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the storage directory {directory}: {exc.strerror or exc}"
        ) from exc
    fs = fsspec.implementations.local.LocalFileSystem(**_NO_CACHE_OPTIONS)
    root = fs._strip_protocol(str(directory))
    return FsspecObjectStore(fs, root, url=str(directory), is_local=True)


def _open_remote(
    url: str, module_name: str, class_path: str, options: dict[str, Any], *, extra_name: str
) -> ObjectStore:
    scheme = _scheme(url)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"{scheme}:// storage needs the '{extra_name}' extra: "
            f"pip install 'qaflow[{extra_name}]'"
        ) from exc
    display = _display_url(url)
    parts = urlsplit(url)
    root = f"{parts.netloc.rpartition('@')[2]}{parts.path}".rstrip("/")
    if not parts.netloc:
        raise ConfigurationError(f"storage URL {display!r} names no bucket")
    filesystem_class: Any = module
    for attribute in class_path.split("."):
        filesystem_class = getattr(filesystem_class, attribute)
    try:
        fs = filesystem_class(**options)
    except Exception as exc:
        raise ConfigurationError(f"cannot configure storage {display}: {exc}") from exc
    return FsspecObjectStore(fs, root, url=display, is_local=False)


def _s3_options(options: dict[str, Any]) -> dict[str, Any]:
    config = {**_S3_DEFAULT_CONFIG, **options.get("config_kwargs", {})}
    if options.get("endpoint_url"):
        # S3-compatible servers (SeaweedFS, MinIO) seldom serve virtual-host bucket names.
        config.setdefault("s3", {"addressing_style": "path"})
    return {**_NO_CACHE_OPTIONS, **options, "config_kwargs": config}


def _gcs_options(options: dict[str, Any]) -> dict[str, Any]:
    merged = {**_NO_CACHE_OPTIONS, **options}
    if merged.get("endpoint_url") and merged.get("token") is None:
        # An emulator accepts anonymous requests; looking up Google credentials would fail.
        merged["token"] = "anon"
    return merged


def _s3_options_from(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.s3_endpoint_url:
        options["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_access_key_id:
        options["key"] = settings.s3_access_key_id.get_secret_value()
    if settings.s3_secret_access_key:
        options["secret"] = settings.s3_secret_access_key.get_secret_value()
    if settings.s3_region:
        options["client_kwargs"] = {"region_name": settings.s3_region}
    return options


def _gcs_options_from(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.gcs_endpoint_url:
        options["endpoint_url"] = settings.gcs_endpoint_url
    if settings.gcs_project:
        options["project"] = settings.gcs_project
    if settings.gcs_token:
        options["token"] = settings.gcs_token.get_secret_value()
    return options


def _display_url(url: str) -> str:
    """``url`` without credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
