"""Datums run the same way whatever runs them: in process or in a local process pool."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from qaflow.config import Settings
from qaflow.pipeline.executors import (
    DatumOutcome,
    DatumTask,
    InProcessExecutor,
    LocalExecutor,
    ReaderPool,
    run_datum,
)
from qaflow.pipeline.inspect import read_blob_rows
from qaflow.reader import ModelSpec, ReaderOptions
from qaflow.storage import ObjectStore, open_store
from qaflow.versioning import blob_key
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


def test_a_datum_answers_its_rows_and_keeps_row_errors(
    store: ObjectStore, tiny_spec: ModelSpec
) -> None:
    sha256 = stored_csv(store, question_csv(6, blank_questions=[2]))
    task = DatumTask("d1", sha256, 1, 5, tiny_spec, ReaderOptions())

    outcome = run_datum(task, store=store, readers=ReaderPool())

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
    store: ObjectStore, tiny_spec: ModelSpec, stop: int, model: str | None, message: str
) -> None:
    sha256 = stored_csv(store, question_csv(6))
    spec = tiny_spec if model is None else ModelSpec("broken", model, model)

    outcome = run_datum(
        DatumTask("d", sha256, 0, stop, spec, ReaderOptions()), store=store, readers=ReaderPool()
    )

    assert outcome.result_sha256 is None
    assert outcome.error is not None
    assert message in outcome.error


def test_a_missing_input_blob_is_the_datums_error(store: ObjectStore, tiny_spec: ModelSpec) -> None:
    task = DatumTask("d", "ab" * 32, 0, 3, tiny_spec, ReaderOptions())
    outcome = run_datum(task, store=store, readers=ReaderPool())
    assert outcome.error is not None
    assert "no object" in outcome.error


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
        for o in InProcessExecutor(store=store).map_unordered(tasks)
    }

    pool = LocalExecutor(settings=settings, workers=2)
    try:
        got = {o.datum_id: outcome_rows(store, o) for o in pool.map_unordered(tasks)}
    finally:
        pool.close()

    assert got == expected
