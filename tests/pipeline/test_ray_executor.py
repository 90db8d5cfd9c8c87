"""The Ray executor on a local Ray instance gives the local executor's results."""

from __future__ import annotations

import signal
import socket
import time
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


def _tasks(store: Any, spec: ModelSpec, count: int) -> list[DatumTask]:
    sha256 = stored_csv(store, question_csv(4 * count))
    return [
        DatumTask(f"d{start}", sha256, start, start + 4, spec, ReaderOptions())
        for start in range(0, 4 * count, 4)
    ]


def test_a_killed_actor_is_restarted_and_its_datums_still_run(
    ray_instance: Any, tmp_path: Path, tiny_spec: ModelSpec
) -> None:
    from qaflow.pipeline.ray_executor import RayExecutor

    settings = Settings(home=tmp_path)
    store = open_store(settings)
    executor = RayExecutor(settings=settings, workers=1)
    try:
        assert [o.error for o in executor.map_unordered(_tasks(store, tiny_spec, 1))] == [None]
        # As the kernel's OOM killer would: the process dies, Ray may restart the actor.
        ray_instance.kill(executor._actors[0], no_restart=False)
        outcomes = list(executor.map_unordered(_tasks(store, tiny_spec, 3)))
    finally:
        executor.close()

    assert [o.error for o in outcomes] == [None, None, None]


def test_actors_the_cluster_has_no_room_for_are_given_up(
    ray_instance: Any, tmp_path: Path, tiny_spec: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    from qaflow.pipeline.ray_executor import RayExecutor

    settings = Settings(home=tmp_path)
    store = open_store(settings)
    # The module's Ray has 2 CPUs; each actor takes one.
    executor = RayExecutor(settings=settings, workers=3, ready_timeout_s=30)
    try:
        assert len(executor._actors) == 2
        outcomes = list(executor.map_unordered(_tasks(store, tiny_spec, 4)))
    finally:
        executor.close()

    assert sorted(o.datum_id for o in outcomes if o.error is None) == ["d0", "d12", "d4", "d8"]
    assert "only 2 of 3 Ray actors started" in caplog.text


def test_an_address_nobody_listens_on_fails_in_seconds() -> None:
    from qaflow.errors import TransientError
    from qaflow.pipeline.ray_executor import _check_reachable

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TransientError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        _check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 10


def test_ray_init_keeps_the_processs_signal_handlers() -> None:
    from qaflow.pipeline.ray_executor import _own_signal_handlers

    def mine(signum: int, frame: object) -> None:
        del signum, frame

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with _own_signal_handlers():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # what ray.init does to it
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_workers_that_cannot_start_are_a_readable_error(ray_instance: Any, tmp_path: Path) -> None:
    from qaflow.errors import ConfigurationError
    from qaflow.pipeline.ray_executor import RayExecutor

    # Each actor opens the store when it starts; this one cannot be opened anywhere.
    broken = Settings(home=tmp_path, storage_url="ftp://nowhere/x")
    with pytest.raises(ConfigurationError, match="the Ray workers could not start"):
        RayExecutor(settings=broken, workers=1, ready_timeout_s=60)
    assert ray_instance.is_initialized()
