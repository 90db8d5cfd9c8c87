"""Running the pipeline: a worker wired to the bucket scan, and the API's embedded worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import ExecutorKind, Settings
from qaflow.db import JobState
from qaflow.pipeline.executors import create_executor
from qaflow.pipeline.runner import ProgressCallback, RunPolicy
from qaflow.pipeline.worker import PipelineWorker, ScanCounts, Scanner
from qaflow.services.pipeline_schemas import UploadStatus
from qaflow.services.pipeline_service import ensure_question_answer, upload_status
from qaflow.services.uploads import scan_incoming
from qaflow.storage import ObjectStore

logger = logging.getLogger(__name__)

_SETTLED = frozenset({JobState.DONE, JobState.FAILED})


def _settled(status: UploadStatus) -> bool:
    """Ended, and whatever answers it has are in SQL: nothing more will happen to the upload
    by itself. (A failed upload may still have answered rows: their egress is waited for.)"""
    return status.state in _SETTLED and (status.egressed or status.output_commit_id is None)


def run_policy(settings: Settings) -> RunPolicy:
    return RunPolicy(
        lease_s=settings.job_lease_s,
        retry_backoff_s=settings.retry_backoff_s,
        poll_s=settings.worker_poll_s,
    )


def bucket_scanner(*, session_factory: sessionmaker[Session], store: ObjectStore) -> Scanner:
    def scan() -> ScanCounts:
        report = scan_incoming(session_factory=session_factory, store=store)
        for key, reason in report.rejected:
            logger.warning("rejected %s: %s", key, reason)
        return ScanCounts(len(report.committed), list(report.rejected))

    return scan


@contextmanager
def pipeline_worker(
    *,
    settings: Settings,
    session_factory: sessionmaker[Session],
    store: ObjectStore,
    executor: ExecutorKind | None = None,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> Iterator[PipelineWorker]:
    """A worker with its executor (closed on exit); creates the pipeline on first use.

    Workers: ``workers``, else the pipeline spec's parallelism, else ``settings.workers``.
    """
    with session_factory() as session:
        spec = ensure_question_answer(session=session, settings=settings)
    pool = create_executor(
        settings=settings,
        store=store,
        kind=executor,
        workers=workers or spec.parallelism or settings.workers,
    )
    try:
        yield PipelineWorker(
            session_factory=session_factory,
            store=store,
            executor=pool,
            policy=run_policy(settings),
            scanner=bucket_scanner(session_factory=session_factory, store=store),
            scan_interval_s=settings.scan_interval_s,
            on_progress=on_progress,
        )
    finally:
        pool.close()


def wait_for_uploads(
    *,
    worker: PipelineWorker,
    session_factory: sessionmaker[Session],
    upload_ids: Sequence[str],
    poll_s: float,
) -> list[UploadStatus]:
    """Run passes until every upload's job has ended and its answers are in SQL."""
    while True:
        worker.run_once()
        with session_factory() as session:
            statuses = [upload_status(session=session, upload_id=uid) for uid in upload_ids]
        if all(_settled(status) for status in statuses):
            return statuses
        time.sleep(poll_s)


class EmbeddedWorker:
    """A pipeline worker on a background thread, for ``qaflow serve``.

    A worker that cannot start (the database or a Ray cluster away) tries again with growing
    pauses, up to ``max_retry_s``, until it runs or is stopped; ``problem`` says why meanwhile,
    and also while a running worker's passes fail (they are retried too).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: sessionmaker[Session],
        store: ObjectStore,
        first_retry_s: float = 1.0,
        max_retry_s: float = 60.0,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._store = store
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qaflow-pipeline", daemon=True)
        self.running = False
        self._start_problem: str | None = None
        self._worker: PipelineWorker | None = None

    @property
    def problem(self) -> str | None:
        """Why the worker cannot start, or why its passes fail; None while it works."""
        worker = self._worker
        return self._start_problem or (worker.failing if worker is not None else None)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask the worker to stop after the datums in flight; wait for it."""
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("the pipeline worker did not stop within %.0f s", timeout_s)

    def _run(self) -> None:
        pause = self._first_retry_s
        while not self._stop.is_set():
            try:
                with pipeline_worker(
                    settings=self._settings, session_factory=self._sessions, store=self._store
                ) as worker:
                    logger.info("pipeline worker %s started", worker.worker_id)
                    self._worker, self._start_problem = worker, None
                    self.running = True
                    worker.run_forever(self._stop)
            except Exception as exc:
                self.running, self._worker = False, None
                self._start_problem = f"{type(exc).__name__}: {exc}"
                logger.exception("the embedded pipeline worker stopped; retrying in %.0f s", pause)
                self._stop.wait(pause)
                pause = min(pause * 2, self._max_retry_s)
        self.running = False
