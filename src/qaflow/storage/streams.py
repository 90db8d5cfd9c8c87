"""Streams handed to callers: errors translated, writes staged and published atomically."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from qaflow.storage.keys import TEMP_NAME_PREFIX

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

Guard = Callable[[], AbstractContextManager[None]]

_LOCAL_FILE_MODE = 0o644
_log = logging.getLogger(__name__)


class GuardedStream(io.BufferedIOBase):
    """A binary stream over a backend file whose errors are translated by ``guard``.

    Closing it only ends the caller's access: the owner decides whether to commit the inner file.
    """

    def __init__(self, inner: Any, guard: Guard) -> None:
        super().__init__()
        self._inner = inner
        self._guard = guard

    def readable(self) -> bool:
        return not self.closed and bool(self._inner.readable())

    def writable(self) -> bool:
        return not self.closed and bool(self._inner.writable())

    def seekable(self) -> bool:
        return not self.closed and bool(self._inner.seekable())

    def read(self, size: int | None = -1, /) -> bytes:
        self._require_open()
        with self._guard():
            return bytes(self._inner.read(-1 if size is None else size))

    def read1(self, size: int | None = -1, /) -> bytes:
        return self.read(size)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1, /) -> bytes:
        if size is not None and size >= 0:
            return super().readline(size)
        self._require_open()
        with self._guard():
            return bytes(self._inner.readline())

    def write(self, data: ReadableBuffer, /) -> int:
        self._require_open()
        view = memoryview(data)
        with self._guard():
            self._inner.write(view)
        return view.nbytes

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        self._require_open()
        with self._guard():
            return int(self._inner.seek(offset, whence))

    def tell(self) -> int:
        self._require_open()
        return int(self._inner.tell())

    def flush(self) -> None:
        # Backend files flush when they are committed; a partial flush publishes nothing.
        return None

    def _require_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed object stream")


@contextmanager
def guarded_reader(open_inner: Callable[[], Any], guard: Guard) -> Iterator[BinaryIO]:
    """Open a backend file for reading and close it when the block ends."""
    with guard():
        inner = open_inner()
    stream = GuardedStream(inner, guard)
    try:
        yield cast(BinaryIO, stream)
    finally:
        stream.close()
        inner.close()


@contextmanager
def local_atomic_writer(path: str, guard: Guard) -> Iterator[BinaryIO]:
    """Stage the content in a temp file next to ``path``; ``os.replace`` it there on success."""
    with guard():
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        descriptor, temp_path = tempfile.mkstemp(prefix=TEMP_NAME_PREFIX, dir=directory)
    inner = os.fdopen(descriptor, "wb")
    stream = GuardedStream(inner, guard)
    try:
        yield cast(BinaryIO, stream)
        stream.close()
        with guard():
            inner.flush()
            os.fsync(inner.fileno())
            os.fchmod(inner.fileno(), _LOCAL_FILE_MODE)
            inner.close()
            os.replace(temp_path, path)
    except BaseException:
        stream.close()
        inner.close()
        _remove_quietly(temp_path)
        raise


@contextmanager
def remote_atomic_writer(open_inner: Callable[[], Any], guard: Guard) -> Iterator[BinaryIO]:
    """Write through an fsspec file opened with ``autocommit=False``; commit only on success.

    s3fs and gcsfs complete the multipart or resumable upload on commit, and abort it on discard,
    so readers never see a partial object and a failed block leaves nothing behind.
    """
    with guard():
        inner = open_inner()
    stream = GuardedStream(inner, guard)
    try:
        yield cast(BinaryIO, stream)
        stream.close()
        with guard():
            inner.close()
            inner.commit()
    except BaseException:
        stream.close()
        _discard_quietly(inner)
        raise


def _discard_quietly(inner: Any) -> None:
    try:
        inner.discard()
    except Exception:
        # The original error matters more; an orphaned upload is reclaimed by the bucket's policy.
        _log.warning("could not abort the upload of %s", inner, exc_info=True)
    finally:
        # Keeps the file's finalizer from flushing (and so committing) what was discarded.
        inner.closed = True


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError:
        _log.warning("could not remove the temp file %s", path, exc_info=True)
