"""The Ray executor on a local Ray instance gives the local executor's results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qaflow.config import Settings
from qaflow.pipeline.executors import DatumTask, InProcessExecutor
from qaflow.reader import ModelSpec, ReaderOptions
from qaflow.services.runtime import open_runtime
from qaflow.storage import open_store
from tests.pipeline.pipeline_support import (
    pipeline_settings_for,
    question_csv,
    run_pass,
    stored_answers,
    upload,
)
from tests.pipeline.test_executors import outcome_rows, stored_csv
from tests.support.require import missing_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One local Ray instance for the module; executors find it running and leave it be."""
    try:
        import ray
    except ImportError as exc:
        missing_service(f"Ray is not installed: {exc}")
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:
        missing_service(f"Ray could not start a local instance: {exc}")
    yield ray
    ray.shutdown()


def test_ray_actors_give_the_in_process_results(
    ray_instance: Any, tmp_path: Path, tiny_spec: ModelSpec
) -> None:
    from qaflow.pipeline.ray_executor import RayExecutor

    settings = Settings(home=tmp_path)
    store = open_store(settings)
    sha256 = stored_csv(store, question_csv(12, blank_questions=[6]))
    tasks = [
        DatumTask(f"d{start}", sha256, start, start + 4, tiny_spec, ReaderOptions())
        for start in (0, 4, 8)
    ]
    in_process = InProcessExecutor(store=store, onnx_cache_dir=tmp_path / "onnx")
    expected = {o.datum_id: outcome_rows(store, o) for o in in_process.map_unordered(tasks)}

    executor = RayExecutor(settings=settings, workers=2)
    try:
        got = {o.datum_id: outcome_rows(store, o) for o in executor.map_unordered(tasks)}
    finally:
        executor.close()

    assert got == expected
    assert ray_instance.is_initialized(), "an executor must not stop a Ray it did not start"


def test_a_pipeline_run_on_ray_stores_the_local_answers(
    ray_instance: Any, tmp_path: Path, tiny_model_dir: Path
) -> None:
    def answers_with(executor: str, name: str) -> list[tuple[object, ...]]:
        settings = pipeline_settings_for(
            tmp_path / name, f"sqlite:///{tmp_path / name}.db", tiny_model_dir
        )
        with open_runtime(settings) as runtime:
            upload(runtime, question_csv(10, blank_questions=[1]))
            report = run_pass(runtime, executor=executor, workers=2)
            assert [job.state for job in report.jobs] == ["done"]
            return [
                (a.row_index, a.answer, a.start_char, a.end_char, a.error, a.datum_id)
                for a in stored_answers(runtime)
            ]

    assert answers_with("ray", "ray") == answers_with("local", "local")
