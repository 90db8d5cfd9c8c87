"""A process-wide cache of readers: each (model spec, reader options) is loaded once, even under
concurrency, and the number held is bounded across all of them."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from qaflow.reader.engine import Reader, load_reader
from qaflow.reader.types import ModelSpec, ReaderOptions


class ReaderLoader(Protocol):
    def __call__(
        self, spec: ModelSpec, *, options: ReaderOptions | None, threads: int | None
    ) -> Reader: ...


DEFAULT_MAX_READERS = 4

_Key = tuple[ModelSpec, ReaderOptions | None]


class ReaderCache:
    """Thread-safe map from (spec, options) to loaded reader; a failed load is not cached.

    ``options`` given to :meth:`get` override the cache's own, so one cache serves a worker that
    reads with several window settings. Beyond ``max_readers`` (counted over every spec and
    options together) the least recently used reader is dropped, so memory stays bounded in
    a server that answers with many models and in a worker that outlives retrains (each weights
    revision is its own spec). A dropped reader's memory goes once no running call holds it; it
    is loaded again when next asked for.
    """

    def __init__(
        self,
        *,
        options: ReaderOptions | None = None,
        threads: int | None = None,
        onnx_cache_dir: Path | None = None,
        loader: ReaderLoader | None = None,
        max_readers: int = DEFAULT_MAX_READERS,
    ) -> None:
        if max_readers < 1:
            raise ValueError("max_readers must be at least 1")
        self._max_readers = max_readers
        self._options = options
        self._threads = threads
        self._loader: ReaderLoader = loader or functools.partial(
            load_reader, onnx_cache_dir=onnx_cache_dir
        )
        self._readers: OrderedDict[_Key, Reader] = OrderedDict()
        self._loading: dict[_Key, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, spec: ModelSpec, options: ReaderOptions | None = None) -> Reader:
        """The reader of ``spec`` with ``options`` (else the cache's), loading it on first use."""
        key: _Key = (spec, options if options is not None else self._options)
        with self._lock:
            reader = self._readers.get(key)
            if reader is not None:
                self._readers.move_to_end(key)
                return reader
            key_lock = self._loading.setdefault(key, threading.Lock())
        # One lock per key: loading one model does not block readers of another.
        with key_lock:
            with self._lock:
                reader = self._readers.get(key)
            if reader is not None:
                return reader
            reader = self._loader(spec, options=key[1], threads=self._threads)
            with self._lock:
                self._readers[key] = reader
                self._loading.pop(key, None)
                while len(self._readers) > self._max_readers:
                    self._readers.popitem(last=False)
            return reader

    def clear(self) -> None:
        """Forget every loaded reader (their memory goes once no one else holds them)."""
        with self._lock:
            self._readers.clear()

    def __contains__(self, spec: object) -> bool:
        """Whether a reader of ``spec`` (with any options) is loaded."""
        with self._lock:
            return any(key[0] == spec for key in self._readers)

    def __len__(self) -> int:
        with self._lock:
            return len(self._readers)
