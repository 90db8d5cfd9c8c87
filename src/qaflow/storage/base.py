"""The object-store contract every backend fulfils."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO

COPY_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key relative to the store root and its size in bytes."""

    key: str
    size: int


class ObjectStore(ABC):
    """Objects under one root, addressed by relative '/'-separated keys.

    Writes are atomic: an object is either absent, its old content or its full new content.
    Missing objects raise :class:`qaflow.errors.NotFoundError`, malformed keys
    :class:`qaflow.errors.InvalidInputError`, backend failures :class:`qaflow.errors.StorageError`.
    """

    url: str

    @abstractmethod
    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Stream an object's content."""

    @abstractmethod
    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Stream new content to ``key``; it becomes visible only if the block exits cleanly."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole content of an object."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, recursively, sorted by key."""

    @abstractmethod
    def size(self, key: str) -> int:
        """An object's size in bytes."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous object."""
        with self.open_write(key) as target:
            target.write(data)

    def put_file(self, key: str, source: BinaryIO) -> int:
        """Copy ``source`` to ``key`` in chunks; returns the number of bytes written."""
        written = 0
        with self.open_write(key) as target:
            while chunk := source.read(COPY_CHUNK_BYTES):
                target.write(chunk)
                written += len(chunk)
        return written

    @abstractmethod
    def check(self) -> None:
        """Raise ConfigurationError when the store's root cannot exist (a bucket that does not),
        StorageError when it cannot be reached. A root with no objects yet is fine."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
