"""Datums run the same way whatever runs them: in process or in a local process pool."""

from __future__ import annotations

import hashlib
import io
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from qaflow.config import Settings
from qaflow.pipeline.csvio import validate_csv_stream
from qaflow.pipeline.executors import (
    DatumOutcome,
    DatumTask,
    InProcessExecutor,
    LocalExecutor,
    ReaderPool,
    create_executor,
    run_datum,
)
from qaflow.pipeline.inspect import read_blob_rows
from qaflow.pipeline.row_index import RowIndex, store_row_index
from qaflow.reader import ModelSpec, ReaderOptions
from qaflow.storage import ObjectStore, open_store
from qaflow.versioning import blob_key
from qaflow.versioning.blobs import row_index_key
from tests.pipeline.pipeline_support import question_csv


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store(Settings(home=tmp_path))


def stored_csv(store: ObjectStore, data: bytes) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    store.put_bytes(blob_key(sha256), data)
    return sha256


def outcome_rows(store: ObjectStore, outcome: DatumOutcome) -> list[tuple[object, ...]]:
    assert outcome.result_sha256 is not None, outcome.error
    return [
        (row.row_index, row.answer, row.start, row.end, row.error, round(row.score or 0.0, 4))
        for row in read_blob_rows(store, outcome.result_sha256)
    ]


@pytest.fixture
def readers(tmp_path: Path) -> ReaderPool:
    return ReaderPool(onnx_cache_dir=tmp_path / "onnx")


def test_a_datum_answers_its_rows_and_keeps_row_errors(
    store: ObjectStore, tiny_spec: ModelSpec, readers: ReaderPool
) -> None:
    sha256 = stored_csv(store, question_csv(6, blank_questions=[2]))
    task = DatumTask("d1", sha256, 1, 5, tiny_spec, ReaderOptions())

    outcome = run_datum(task, store=store, readers=readers)

    assert (outcome.error, outcome.rows, outcome.error_rows) == (None, 4, 1)
    assert outcome.result_sha256 is not None
    rows = list(read_blob_rows(store, outcome.result_sha256))
    assert [row.row_index for row in rows] == [1, 2, 3, 4]
    assert rows[1].error == "The question is empty."
    assert rows[1].passthrough == {"id": "2"}
    for row in rows[:1] + rows[2:]:
        assert row.error is None
        assert row.context[row.start : row.end] == row.answer  # type: ignore[misc]
    assert store.size(blob_key(outcome.result_sha256)) == outcome.result_size


@pytest.mark.parametrize(
    ("stop", "model", "message"),
    [
        (9, None, "expected rows 0-9 but the file has only 6"),
        (3, "/does/not/exist", "Could not load model"),
    ],
)
def test_a_datum_that_cannot_be_done_reports_why(
    store: ObjectStore,
    tiny_spec: ModelSpec,
    readers: ReaderPool,
    stop: int,
    model: str | None,
    message: str,
) -> None:
    sha256 = stored_csv(store, question_csv(6))
    spec = tiny_spec if model is None else ModelSpec("broken", model, model)

    outcome = run_datum(
        DatumTask("d", sha256, 0, stop, spec, ReaderOptions()), store=store, readers=readers
    )

    assert outcome.result_sha256 is None
    assert outcome.error is not None
    assert message in outcome.error


def test_a_missing_input_blob_is_the_datums_error(
    store: ObjectStore, tiny_spec: ModelSpec, readers: ReaderPool
) -> None:
    task = DatumTask("d", "ab" * 32, 0, 3, tiny_spec, ReaderOptions())
    outcome = run_datum(task, store=store, readers=readers)
    assert outcome.error is not None
    assert "no object" in outcome.error


def row_index_of(data: bytes, every: int) -> RowIndex:
    return validate_csv_stream(io.BytesIO(data), row_index_every=every).row_index


def shard_outcomes(
    store: ObjectStore, sha256: str, spec: ModelSpec, readers: ReaderPool
) -> list[list[object]]:
    tasks = [DatumTask(f"d{s}", sha256, s, s + 3, spec, ReaderOptions()) for s in (0, 3, 6, 9)]
    return [outcome_rows(store, run_datum(task, store=store, readers=readers)) for task in tasks]


def test_datums_read_the_same_rows_with_or_without_a_stored_row_index(
    store: ObjectStore, tiny_spec: ModelSpec, readers: ReaderPool
) -> None:
    data = question_csv(12, blank_questions=[4])
    sha256 = stored_csv(store, data)
    without = shard_outcomes(store, sha256, tiny_spec, readers)

    store_row_index(store, sha256, row_index_of(data, every=2))
    with_index = shard_outcomes(store, sha256, tiny_spec, readers)
    store.put_bytes(row_index_key(sha256), b"{not json")
    unreadable = shard_outcomes(store, sha256, tiny_spec, readers)

    assert with_index == without
    assert unreadable == without


def test_a_datum_seeks_through_the_stored_row_index(
    store: ObjectStore, tiny_spec: ModelSpec, readers: ReaderPool
) -> None:
    data = question_csv(8)
    sha256 = stored_csv(store, data)
    every_row = row_index_of(data, every=1)
    # Off by one row on purpose: "row 2" really starts where row 3 does, a seek reads from there.
    shifted = replace(
        every_row, every=2, offsets=every_row.offsets[1::2], lines=every_row.lines[1::2]
    )
    store_row_index(store, sha256, shifted)

    task = DatumTask("d", sha256, 2, 4, tiny_spec, ReaderOptions())
    outcome = run_datum(task, store=store, readers=readers)

    assert outcome.result_sha256 is not None, outcome.error
    rows = list(read_blob_rows(store, outcome.result_sha256))
    assert [(row.row_index, row.passthrough) for row in rows] == [
        (2, {"id": "3"}),
        (3, {"id": "4"}),
    ]


@pytest.mark.slow
def test_the_process_pool_gives_the_in_process_results(
    tmp_path: Path, tiny_spec: ModelSpec
) -> None:
    settings = Settings(home=tmp_path)
    store = open_store(settings)
    sha256 = stored_csv(store, question_csv(12, blank_questions=[5]))
    tasks = [
        DatumTask(f"d{start}", sha256, start, start + 4, tiny_spec, ReaderOptions())
        for start in (0, 4, 8)
    ]
    expected = {
        o.datum_id: outcome_rows(store, o)
        for o in InProcessExecutor(store=store, onnx_cache_dir=tmp_path).map_unordered(tasks)
    }

    pool = LocalExecutor(settings=settings, workers=2)
    try:
        got = {o.datum_id: outcome_rows(store, o) for o in pool.map_unordered(tasks)}
    finally:
        pool.close()

    assert got == expected


def test_a_reader_pool_bounds_the_process_across_window_settings(
    tiny_spec: ModelSpec, tmp_path: Path
) -> None:
    readers = ReaderPool(onnx_cache_dir=tmp_path, max_readers=2)
    settings = [ReaderOptions(max_seq_len=n, doc_stride=16) for n in (96, 112, 128)]
    loaded = [readers.get(tiny_spec, options) for options in settings]
    assert [reader.options.max_seq_len for reader in loaded] == [96, 112, 128]
    assert len(readers) == 2
    assert readers.get(tiny_spec, settings[2]) is loaded[2]


def test_an_executor_exports_onnx_models_under_its_settings_home(
    tmp_path: Path, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "environment-home"
    monkeypatch.setenv("QAFLOW_HOME", str(elsewhere))
    settings = Settings(home=tmp_path / "home", workers=1)
    store = open_store(settings)
    sha256 = stored_csv(store, question_csv(2))
    onnx_spec = replace(tiny_spec, backend="onnx")
    executor = create_executor(settings=settings, store=store)

    [outcome] = executor.map_unordered([DatumTask("d", sha256, 0, 2, onnx_spec, ReaderOptions())])

    assert outcome.error is None
    assert any((settings.home / "cache" / "onnx").rglob("*.onnx"))
    assert not elsewhere.exists()


@pytest.mark.slow
def test_a_killed_pool_worker_costs_no_datum_a_try(tmp_path: Path, tiny_spec: ModelSpec) -> None:
    settings = Settings(home=tmp_path)
    store = open_store(settings)
    sha256 = stored_csv(store, question_csv(8 * 200))
    tasks = [
        DatumTask(f"d{start}", sha256, start, start + 200, tiny_spec, ReaderOptions())
        for start in range(0, 8 * 200, 200)
    ]
    pool = LocalExecutor(settings=settings, workers=2)
    outcomes: list[DatumOutcome] = []
    try:
        results = pool.map_unordered(tasks)
        outcomes.append(next(results))
        first_pool = pool._pool
        assert first_pool is not None
        victim = next(iter(first_pool._processes))  # a worker, while the others still run
        os.kill(victim, signal.SIGKILL)
        outcomes.extend(results)
    finally:
        pool.close()

    assert sorted(o.datum_id for o in outcomes) == sorted(t.datum_id for t in tasks)
    assert [o.error for o in outcomes] == [None] * len(tasks)
