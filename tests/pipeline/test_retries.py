"""A datum that fails for a while is retried until it succeeds, within its tries."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.db import Datum, DatumState, Job
from qaflow.pipeline.executors import DatumOutcome, DatumTask, InProcessExecutor
from qaflow.pipeline.runner import OUTAGE_RETRIES, JobProgress
from qaflow.pipeline.worker import PipelineWorker, RunReport
from qaflow.reader import default_onnx_cache_dir
from qaflow.services.pipeline_service import upload_results, upload_status
from qaflow.services.pipeline_worker import run_policy
from qaflow.services.runtime import Runtime, open_runtime
from qaflow.versioning import blob_key
from tests.pipeline.pipeline_support import (
    question_csv,
    run_pass,
    stored_answers,
    update_pipeline,
    upload,
)

WAIT_S = 120


def test_a_blob_missing_at_first_is_found_on_a_later_try(pipeline_settings: Settings) -> None:
    settings = pipeline_settings.model_copy(update={"retry_backoff_s": 1.0})
    with open_runtime(settings) as runtime:
        uploaded = upload(runtime, question_csv(10))
        update_pipeline(runtime, datum_tries=5)
        key = blob_key(uploaded.sha256)
        content = runtime.store.get_bytes(key)
        runtime.store.delete(key)
        reports: list[RunReport] = []
        worker = threading.Thread(target=lambda: reports.append(run_pass(runtime)))
        worker.start()
        failed_first = None
        try:
            failed_first = _wait_for_a_failed_try(runtime.sessions)
        finally:
            # Back before the first retry (a second away): the next try finds it.
            runtime.store.put_bytes(key, content)
            worker.join(WAIT_S)

        [job] = reports[0].jobs
        assert (job.state, job.processed, job.failed) == ("done", 3, 0)
        with runtime.sessions() as session:
            datums = list(session.scalars(select(Datum)))
        assert {d.state for d in datums} == {DatumState.DONE}
        retried = next(d for d in datums if d.id == failed_first)
        assert (retried.tries, retried.error) == (2, None)
        assert len(stored_answers(runtime)) == 10


def _wait_for_a_failed_try(sessions: sessionmaker[Session]) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with sessions() as session:
            tried = session.scalars(select(Datum).where(Datum.tries >= 1)).first()
            if tried is not None:
                assert tried.error is not None
                assert "no object" in tried.error
                return tried.id
        time.sleep(0.01)
    raise AssertionError("no datum was tried in time")


class _FailingFirstTries:
    """The real executor, but the shard starting at row ``start`` fails its first ``n`` tries."""

    def __init__(self, inner: InProcessExecutor, failures: dict[int, int]) -> None:
        self._inner = inner
        self._failures = failures
        self.tries: Counter[int] = Counter()

    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        for task in tasks:
            self.tries[task.shard_start] += 1
            if self.tries[task.shard_start] <= self._failures.get(task.shard_start, 0):
                yield DatumOutcome(task.datum_id, error="injected failure")
            else:
                yield from self._inner.map_unordered([task])

    def close(self) -> None:
        self._inner.close()


def _one_pass(
    runtime: Runtime,
    executor_class: type[_FailingFirstTries],
    failures: dict[int, int],
    on_progress: Callable[[JobProgress], None] | None = None,
) -> tuple[JobProgress, _FailingFirstTries]:
    """One worker pass whose executor fails the shards in ``failures``; the job and executor."""
    executor = executor_class(
        InProcessExecutor(
            store=runtime.store, onnx_cache_dir=default_onnx_cache_dir(runtime.settings)
        ),
        failures,
    )
    worker = PipelineWorker(
        session_factory=runtime.sessions,
        store=runtime.store,
        executor=executor,
        policy=run_policy(runtime.settings),
        on_progress=on_progress,
    )
    [job] = worker.run_once(force=True).jobs
    return job, executor


def test_waiting_for_a_retry_does_not_spin_on_settled_datums(pipeline_settings: Settings) -> None:
    # One shard fails once then succeeds; another fails twice, so while it backs off the
    # first one's old retry time lies in the past. The wait must not take that one as due.
    settings = pipeline_settings.model_copy(update={"retry_backoff_s": 0.4, "worker_poll_s": 5.0})
    with open_runtime(settings) as runtime:
        upload(runtime, question_csv(8))
        update_pipeline(runtime, datum_tries=3)
        passes: list[JobProgress] = []
        job, executor = _one_pass(runtime, _FailingFirstTries, {0: 1, 4: 2}, passes.append)
        assert (job.state, job.processed, job.failed) == ("done", 2, 0)
        assert executor.tries == {0: 2, 4: 3}
        assert len(stored_answers(runtime)) == 8
        # Three execution rounds with a report per datum, plus a handful of adoption passes;
        # a spinning wait makes hundreds.
        assert len(passes) < 20, f"{len(passes)} progress reports"


def test_an_upload_with_a_failed_row_range_is_failed_not_done(pipeline_settings: Settings) -> None:
    # The job ends done (most of its datums made it), but this upload's rows 4-8 have no
    # answer: its status, its results and `qaflow run` must not pass that off as whole.
    settings = pipeline_settings.model_copy(update={"retry_backoff_s": 0.1})
    with open_runtime(settings) as runtime:
        uploaded = upload(runtime, question_csv(8))
        update_pipeline(runtime, datum_tries=2)
        job, _ = _one_pass(runtime, _FailingFirstTries, {4: 99})

        assert (job.state, job.processed, job.failed) == ("done", 1, 1)
        with runtime.sessions() as session:
            status = upload_status(session=session, upload_id=uploaded.id)
            results = upload_results(session=session, upload_id=uploaded.id)
        assert (status.state, status.datums_done, status.datums_failed) == ("failed", 1, 1)
        assert status.errors == ["rows 4-8: injected failure"]
        assert (results.total_rows, results.missing_rows) == (4, 4)
        assert len(stored_answers(runtime)) == 4


class _StorageAwayFirst(_FailingFirstTries):
    """The shards in ``failures`` meet a storage outage (a transient error) on their first
    tries; the rest run for real."""

    def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
        for task in tasks:
            self.tries[task.shard_start] += 1
            if self.tries[task.shard_start] <= self._failures.get(task.shard_start, 0):
                yield DatumOutcome(task.datum_id, error="StorageError: away", transient=True)
            else:
                yield from self._inner.map_unordered([task])


def test_an_outage_longer_than_the_tries_fails_no_datum(pipeline_settings: Settings) -> None:
    settings = pipeline_settings.model_copy(update={"retry_backoff_s": 0.01})
    with open_runtime(settings) as runtime:
        upload(runtime, question_csv(8))
        update_pipeline(runtime, datum_tries=2)
        job, executor = _one_pass(runtime, _StorageAwayFirst, {4: 5})

        assert (job.state, job.processed, job.failed) == ("done", 2, 0)
        assert executor.tries == {0: 1, 4: 6}
        with runtime.sessions() as session:
            datums = {d.shard_start: d for d in session.scalars(select(Datum))}
        assert (datums[4].state, datums[4].tries, datums[4].error) == (DatumState.DONE, 1, None)
        assert len(stored_answers(runtime)) == 8


def test_an_outage_that_does_not_end_fails_the_datum_in_the_end(
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings.model_copy(update={"retry_backoff_s": 0.001})
    with open_runtime(settings) as runtime:
        upload(runtime, question_csv(8))
        update_pipeline(runtime, datum_tries=2)
        job, executor = _one_pass(runtime, _StorageAwayFirst, {4: 999})

        assert (job.state, job.processed, job.failed) == ("done", 1, 1)
        assert executor.tries[4] == OUTAGE_RETRIES + 2  # the free retries, then both tries


def test_the_jobs_counters_follow_each_datum_during_a_round(pipeline_settings: Settings) -> None:
    with open_runtime(pipeline_settings) as runtime:
        upload(runtime, question_csv(12))  # three shards of four rows, one round
        update_pipeline(runtime, datum_tries=3)
        inner = InProcessExecutor(
            store=runtime.store, onnx_cache_dir=default_onnx_cache_dir(runtime.settings)
        )
        seen: list[int] = []

        class Watching:
            """Runs each task for real, first reading the job's stored counter."""

            def map_unordered(self, tasks: Sequence[DatumTask]) -> Iterator[DatumOutcome]:
                for task in tasks:
                    with runtime.sessions() as session:
                        seen.append(session.scalars(select(Job.processed)).one())
                    yield from inner.map_unordered([task])

            def close(self) -> None:
                inner.close()

        worker = PipelineWorker(
            session_factory=runtime.sessions,
            store=runtime.store,
            executor=Watching(),
            policy=run_policy(runtime.settings),
        )
        [job] = worker.run_once(force=True).jobs

    assert (job.state, job.processed) == ("done", 3)
    assert seen == [0, 1, 2]
