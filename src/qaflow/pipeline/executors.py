"""Executors: where datums run. In this process, in a local process pool, or on Ray.

Every executor runs the same :func:`run_datum`, so they give the same results. A worker process
(or Ray actor) loads each model once and keeps it for every datum it is given.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

from qaflow.config import ExecutorKind, Settings
from qaflow.errors import QaflowError, TransientError
from qaflow.pipeline.csvio import CsvRow, iter_csv_rows
from qaflow.pipeline.results import ResultRow, write_results_parquet
from qaflow.pipeline.row_index import load_row_index
from qaflow.reader import (
    DEFAULT_MAX_READERS,
    ModelSpec,
    Reader,
    ReaderCache,
    ReaderOptions,
    default_onnx_cache_dir,
)
from qaflow.storage import ObjectStore, open_store
from qaflow.versioning import blob_key

# Rows handed to the reader at once: enough to fill its batches, few enough to bound memory.
ANSWER_CHUNK_ROWS = 256
_HASH_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DatumTask:
    """Everything a worker needs to process one datum (pickleable)."""

    datum_id: str
    blob_sha256: str
    shard_start: int
    shard_stop: int
    model: ModelSpec
    options: ReaderOptions


@dataclass(frozen=True, slots=True)
class DatumOutcome:
    """What became of one datum: a stored results blob, or the error that stopped it."""

    datum_id: str
    result_sha256: str | None = None
    result_size: int | None = None
    rows: int = 0
    error_rows: int = 0
    error: str | None = None
    # The error was the storage's or the database's (a TransientError): an outage, not the
    # datum's fault, so the runner retries it on a longer leash before counting tries.
    transient: bool = False


class Executor(Protocol):
    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        """Run ``tasks``; yield each outcome as it is ready. Never raises for a task's failure."""

    def close(self) -> None: ...


class ReaderPool:
    """The readers of one process, one per (model, options), each loaded on first use.

    One bounded cache for all of them: ``max_readers`` bounds the process, whatever mix of
    models and window settings its datums ask for.
    """

    def __init__(
        self,
        *,
        onnx_cache_dir: Path,
        threads: int | None = None,
        max_readers: int = DEFAULT_MAX_READERS,
    ) -> None:
        # The cache directory is passed, not looked up: a worker started with explicit
        # settings must export ONNX models under their home, not the environment's.
        self._cache = ReaderCache(
            threads=threads, max_readers=max_readers, onnx_cache_dir=onnx_cache_dir
        )

    def get(self, spec: ModelSpec, options: ReaderOptions) -> Reader:
        return self._cache.get(spec, options)

    def __len__(self) -> int:
        return len(self._cache)


def run_datum(task: DatumTask, *, store: ObjectStore, readers: ReaderPool) -> DatumOutcome:
    """Answer the datum's rows and store the results as a content-addressed Parquet blob.

    Rows that cannot be answered (blank text, or anything one row raises) become error rows;
    a failure of the datum as a whole (model, storage, file) is returned as its error.
    """
    try:
        reader = readers.get(task.model, task.options)
        with tempfile.TemporaryDirectory(prefix="qaflow-datum-") as directory:
            path = Path(directory) / "results.parquet"
            counts = _Counts()
            # Lets the read seek to its shard; without it (older uploads) it parses from the top.
            index = load_row_index(store, task.blob_sha256)
            with store.open_read(blob_key(task.blob_sha256)) as source, path.open("wb") as sink:
                rows = iter_csv_rows(
                    source, start=task.shard_start, stop=task.shard_stop, index=index
                )
                written = write_results_parquet(answer_rows(reader, rows, counts), sink)
            expected = task.shard_stop - task.shard_start
            if written != expected:
                return DatumOutcome(
                    task.datum_id,
                    error=f"expected rows {task.shard_start}-{task.shard_stop} "
                    f"but the file has only {task.shard_start + written}",
                )
            sha256, size = _store_blob(store, path)
        return DatumOutcome(task.datum_id, sha256, size, written, counts.errors)
    except Exception as exc:  # every failure becomes the datum's error: the job retries it
        return DatumOutcome(
            task.datum_id, error=_describe(exc), transient=isinstance(exc, TransientError)
        )


def answer_rows(reader: Reader, rows: Iterable[CsvRow], counts: _Counts) -> Iterator[ResultRow]:
    """Results for ``rows`` in order, answered in chunks; a failing row fails alone."""
    chunk: list[CsvRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == ANSWER_CHUNK_ROWS:
            yield from _answer_chunk(reader, chunk, counts)
            chunk = []
    yield from _answer_chunk(reader, chunk, counts)


class _Counts:
    def __init__(self) -> None:
        self.errors = 0


def _answer_chunk(reader: Reader, chunk: list[CsvRow], counts: _Counts) -> list[ResultRow]:
    results: dict[int, ResultRow] = {}
    answerable = []
    for row in chunk:
        problem = row.empty_error
        if problem is None:
            answerable.append(row)
        else:
            results[row.index] = ResultRow.failed(row, problem)
    try:
        answers = reader.answer([r.question for r in answerable], [r.context for r in answerable])
        for row, (best, *_) in zip(answerable, answers, strict=True):
            results[row.index] = ResultRow.answered(
                row, best.text, best.score, best.start, best.end
            )
    except Exception:
        # Something in the chunk broke the batch: answer one by one to find which row it was.
        for row in answerable:
            results[row.index] = _answer_alone(reader, row)
    counts.errors += sum(1 for result in results.values() if result.error is not None)
    return [results[row.index] for row in chunk]


def _answer_alone(reader: Reader, row: CsvRow) -> ResultRow:
    try:
        best = reader.answer_one(row.question, row.context)[0]
    except Exception as exc:
        return ResultRow.failed(row, _describe(exc))
    return ResultRow.answered(row, best.text, best.score, best.start, best.end)


def _store_blob(store: ObjectStore, path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    key = blob_key(sha256)
    if not store.exists(key):
        with path.open("rb") as source:
            store.put_file(key, source)
    return sha256, path.stat().st_size


def _describe(exc: BaseException) -> str:
    if isinstance(exc, QaflowError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class InProcessExecutor:
    """Runs datums one after another in this process (one worker: no process start-up cost)."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        onnx_cache_dir: Path,
        threads: int | None = None,
        max_readers: int = DEFAULT_MAX_READERS,
    ) -> None:
        self._store = store
        self._readers = ReaderPool(
            onnx_cache_dir=onnx_cache_dir, threads=threads, max_readers=max_readers
        )

    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        for task in tasks:
            yield run_datum(task, store=self._store, readers=self._readers)

    def close(self) -> None:
        return None


@dataclass
class _WorkerState:
    store: ObjectStore
    readers: ReaderPool


_worker_state: _WorkerState | None = None


def init_worker(settings: Settings, threads: int, parent_pid: int | None = None) -> None:
    """Set up a worker process: its store, its readers and its share of the CPU cores.

    With ``parent_pid``, the process ends itself once that parent is gone (killed with -9, say),
    instead of living on with its model loaded.
    """
    global _worker_state
    import torch

    if parent_pid is not None:
        threading.Thread(
            target=_exit_with_parent, args=(parent_pid,), name="qaflow-orphan-watch", daemon=True
        ).start()

    torch.set_num_threads(threads)
    readers = ReaderPool(
        onnx_cache_dir=default_onnx_cache_dir(settings),
        threads=threads,
        max_readers=settings.max_loaded_models,
    )
    _worker_state = _WorkerState(open_store(settings), readers)


def _exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    # A reparented process has another parent id; nothing else tells it the parent died.
    while os.getppid() == parent_pid:
        time.sleep(poll_s)
    os._exit(1)


def run_in_worker(task: DatumTask) -> DatumOutcome:
    if _worker_state is None:
        return DatumOutcome(task.datum_id, error="the worker process was not initialised")
    return run_datum(task, store=_worker_state.store, readers=_worker_state.readers)


class LocalExecutor:
    """A pool of ``workers`` processes on this machine; each loads the model once."""

    def __init__(self, *, settings: Settings, workers: int) -> None:
        self._settings = settings
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        # A worker that dies (killed, out of memory) breaks the whole pool: every task in it
        # fails, started or not, and nothing says which one the dead worker held. So those run
        # once more in a fresh pool, and only a task whose pool breaks again is charged a try.
        broken: list[DatumTask] = []
        yield from self._round(tasks, broken)
        if broken:
            broken_again: list[DatumTask] = []
            yield from self._round(broken, broken_again)
            for task in broken_again:
                yield DatumOutcome(task.datum_id, error="a worker process died (twice) running it")

    def _round(self, tasks: Sequence[DatumTask], broken: list[DatumTask]) -> Iterator[DatumOutcome]:
        pool = self._ensure_pool()
        futures: dict[Future[DatumOutcome], DatumTask] = {
            pool.submit(run_in_worker, task): task for task in tasks
        }
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    self._pool = None  # the next round starts a fresh one
                    broken.append(futures[future])
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(
                    self._settings,
                    threads_per_worker(self._settings, self._workers),
                    os.getpid(),
                ),
            )
        return self._pool


def threads_per_worker(settings: Settings, workers: int) -> int:
    """Torch threads for each of ``workers`` processes: the cores shared out, at least one."""
    if settings.torch_threads is not None:
        return settings.torch_threads
    return max(1, (os.cpu_count() or 1) // workers)


def create_executor(
    *,
    settings: Settings,
    store: ObjectStore,
    kind: ExecutorKind | None = None,
    workers: int | None = None,
) -> Executor:
    """The executor the settings (or the overrides) ask for."""
    kind = kind or settings.executor
    workers = workers or settings.workers
    if kind == "ray":
        from qaflow.pipeline.ray_executor import RayExecutor

        return RayExecutor(settings=settings, workers=workers, address=settings.ray_address)
    if workers == 1:
        return InProcessExecutor(
            store=store,
            onnx_cache_dir=default_onnx_cache_dir(settings),
            threads=settings.torch_threads,
            max_readers=settings.max_loaded_models,
        )
    return LocalExecutor(settings=settings, workers=workers)
