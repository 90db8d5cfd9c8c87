"""A process-wide cache of readers: each model spec is loaded once, even under concurrency."""

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


class ReaderCache:
    """Thread-safe map from spec to loaded reader; a failed load is not cached.

    Beyond ``max_readers`` the least recently used reader is dropped, so memory stays bounded in
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
        self._readers: OrderedDict[ModelSpec, Reader] = OrderedDict()
        self._loading: dict[ModelSpec, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, spec: ModelSpec) -> Reader:
        """The reader of ``spec``, loading it on first use."""
        with self._lock:
            reader = self._readers.get(spec)
            if reader is not None:
                self._readers.move_to_end(spec)
                return reader
            spec_lock = self._loading.setdefault(spec, threading.Lock())
        # One lock per spec: loading one model does not block readers of another.
        with spec_lock:
            with self._lock:
                reader = self._readers.get(spec)
            if reader is not None:
                return reader
            reader = self._loader(spec, options=self._options, threads=self._threads)
            with self._lock:
                self._readers[spec] = reader
                self._loading.pop(spec, None)
                while len(self._readers) > self._max_readers:
                    self._readers.popitem(last=False)
            return reader

    def clear(self) -> None:
        """Forget every loaded reader (their memory goes once no one else holds them)."""
        with self._lock:
            self._readers.clear()

    def __contains__(self, spec: object) -> bool:
        with self._lock:
            return spec in self._readers

    def __len__(self) -> int:
        with self._lock:
            return len(self._readers)
