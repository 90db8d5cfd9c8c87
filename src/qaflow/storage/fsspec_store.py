"""The object store over an fsspec filesystem: a local directory, S3 or GCS."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import partial
from typing import Any, BinaryIO

from qaflow.errors import ConfigurationError
from qaflow.storage.base import ObjectInfo, ObjectStore
from qaflow.storage.boundary import MissingMeans, ObjectNotFoundError, storage_errors
from qaflow.storage.keys import TEMP_NAME_PREFIX, validate_key, validate_prefix
from qaflow.storage.streams import guarded_reader, local_atomic_writer, remote_atomic_writer

# Bytes a remote stream buffers before it sends an upload part or fetches a range: bounds the
# memory per open stream (s3fs defaults to 50 MiB) and is a multiple of GCS's 256 KiB chunk unit.
REMOTE_BLOCK_BYTES = 8 * 1024 * 1024


class FsspecObjectStore(ObjectStore):
    """Objects stored as files under ``root`` of an fsspec filesystem.

    ``root`` is the filesystem's own path (``bucket/prefix`` for S3/GCS, an absolute directory
    for the local filesystem); ``url`` is what messages show.
    """

    def __init__(self, fs: Any, root: str, *, url: str, is_local: bool) -> None:
        self._fs = fs
        self._root = root.rstrip("/")
        self._is_local = is_local
        self._block_size = None if is_local else REMOTE_BLOCK_BYTES
        self.url = url

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        path = self._path(key)
        opener = partial(self._fs.open, path, "rb", block_size=self._block_size)
        return guarded_reader(opener, self._guard("read", key))

    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        path = self._path(key)
        guard = self._guard("write", key, missing="storage_error")
        if self._is_local:
            return local_atomic_writer(path, guard)
        opener = partial(self._fs.open, path, "wb", block_size=self._block_size, autocommit=False)
        return remote_atomic_writer(opener, guard)

    def put_bytes(self, key: str, data: bytes) -> None:
        if self._is_local:
            super().put_bytes(key, data)
            return
        path = self._path(key)
        # One PUT is atomic on S3 and GCS and saves the upload session a stream needs.
        with self._guard("write", key, missing="storage_error")():
            self._fs.pipe_file(path, data)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        with self._guard("read", key)():
            return bytes(self._fs.cat_file(path))

    def exists(self, key: str) -> bool:
        path = self._path(key)
        with self._guard("check", key)():
            try:
                return bool(self._fs.info(path)["type"] == "file")
            except (FileNotFoundError, NotADirectoryError):
                return False

    def check(self) -> None:
        if self._is_local:
            return  # the directory is made on the first write
        bucket = self._root.split("/", 1)[0]
        with self._guard("check", "<bucket>")():
            try:
                self._look_up_bucket(bucket)
            except FileNotFoundError:
                # Listing a missing bucket looks like listing an empty one; say which it is.
                raise ConfigurationError(
                    f"bucket {bucket!r} of {self.url} does not exist: create it, or correct "
                    "QAFLOW_STORAGE_URL"
                ) from None
            except PermissionError:
                return  # credentials for objects need not see the bucket: nothing to judge

    def _look_up_bucket(self, bucket: str) -> None:
        """FileNotFoundError only when the service says the bucket does not exist (404)."""
        protocols = self._fs.protocol
        if "gs" in (protocols if isinstance(protocols, tuple) else (protocols,)):
            # gcsfs's info() falls back to listing when the bucket lookup is refused (403),
            # and an empty listing then reads as missing: ask for the bucket itself.
            try:
                self._fs.call("GET", "b/{}", bucket, json_out=True)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise PermissionError(str(exc)) from exc
            return
        self._fs.info(bucket)

    def size(self, key: str) -> int:
        return int(self._file_info(key)["size"])

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._file_info(key)
        with self._guard("delete", key)():
            self._fs.rm_file(path)
        if self._is_local:
            self._prune_empty_dirs(os.path.dirname(path))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        directory = prefix.rpartition("/")[0]
        base = f"{self._root}/{directory}" if directory else self._root
        with self._guard("list", prefix or "<root>")():
            try:
                found = self._fs.find(base, detail=True, withdirs=False)
            except FileNotFoundError:
                found = {}
        start = len(self._root) + 1
        selected = [
            ObjectInfo(key=name[start:], size=int(info["size"]))
            for name, info in found.items()
            if info.get("type") == "file"
            and name.startswith(self._root + "/")
            and name[start:].startswith(prefix)
            and _is_object(name[start:])
        ]
        return iter(sorted(selected, key=lambda info: info.key))

    def _file_info(self, key: str) -> dict[str, Any]:
        path = self._path(key)
        with self._guard("stat", key)():
            info: dict[str, Any] = self._fs.info(path)
        if info["type"] != "file":
            raise ObjectNotFoundError(f"no object {key!r} in {self.url}")
        return info

    def _path(self, key: str) -> str:
        return f"{self._root}/{validate_key(key)}"

    def _guard(
        self, action: str, key: str, *, missing: MissingMeans = "not_found"
    ) -> Callable[[], AbstractContextManager[None]]:
        return partial(storage_errors, action=action, key=key, url=self.url, missing=missing)

    def _prune_empty_dirs(self, directory: str) -> None:
        # Local deletes leave parent directories behind; drop the empty ones up to the root.
        while directory.startswith(self._root + "/"):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)


def _is_object(key: str) -> bool:
    # Hides in-flight local writes; such names are rejected as keys, so no object is lost.
    return not any(segment.startswith(TEMP_NAME_PREFIX) for segment in key.split("/"))
