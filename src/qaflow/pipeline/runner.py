"""Running one claimed job: adopt its datums, execute them with retries, write its output.

Each datum's outcome is stored in its own short transaction, so a crash loses at most the
datums in flight; the next worker to claim the job finds the finished ones done and runs the
rest. A heartbeat thread keeps the job's lease while datums run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import Datum, DatumState, Job, JobState, PipelineVersion
from qaflow.errors import TerminalError
from qaflow.pipeline import jobs
from qaflow.pipeline.datums import (
    Adoption,
    DatumRef,
    JobInputs,
    adopt_datums,
    job_inputs,
    load_datums,
    mark_running,
    record_blob,
)
from qaflow.pipeline.executors import DatumOutcome, DatumTask, Executor
from qaflow.pipeline.planning import plan_datums
from qaflow.pipeline.spec import PipelineSpec, spec_of
from qaflow.storage import ObjectStore

logger = logging.getLogger(__name__)


# Transient failures in a row a datum may have before they count as tries, and the longest
# pause between them: with the default 1 s backoff, about three minutes of outage.
OUTAGE_RETRIES = 8
MAX_OUTAGE_PAUSE_S = 60.0


def doubling_pause(base_s: float, attempt: int, cap_s: float = math.inf) -> float:
    """The wait after the ``attempt``-th failure in a row: ``base_s``, doubling, at most
    ``cap_s``. The exponent is bounded too: ``2.0 ** 1024`` overflows (a day-long outage)."""
    return min(base_s * 2.0 ** min(attempt - 1, 30), cap_s)


@dataclass(frozen=True)
class RunPolicy:
    """How a worker paces itself: lease, retry backoff and how often it polls."""

    lease_s: float = 60.0
    retry_backoff_s: float = 1.0
    poll_s: float = 2.0


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    state: JobState
    total: int
    processed: int
    skipped: int
    failed: int


ProgressCallback = Callable[[JobProgress], None]


@dataclass
class _Run:
    """One job's run in this worker: what it needs and what it has seen so far."""

    sessions: sessionmaker[Session]
    executor: Executor
    job_id: str
    spec: PipelineSpec
    refs: list[DatumRef]
    policy: RunPolicy
    on_progress: ProgressCallback | None
    stop: threading.Event
    lease_lost: threading.Event = field(default_factory=threading.Event)
    settled: set[str] = field(default_factory=set)
    retry_at: dict[str, float] = field(default_factory=dict)
    outages: dict[str, int] = field(default_factory=dict)  # transient failures in a row

    @property
    def halted(self) -> bool:
        return self.stop.is_set() or self.lease_lost.is_set()


def run_job(
    *,
    session_factory: sessionmaker[Session],
    store: ObjectStore,
    executor: Executor,
    job: Job,
    worker_id: str,
    policy: RunPolicy,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> JobProgress:
    """Run a job this worker has claimed to its end.

    Returns early when the lease is lost to another worker, or when ``stop`` is set: the job
    is then handed back (queued) after the datums in flight are recorded.
    """
    with session_factory() as session:
        spec = spec_of(session.get_one(PipelineVersion, job.pipeline_version_id))
    run = _Run(
        session_factory, executor, job.id, spec, [], policy, on_progress, stop or threading.Event()
    )
    # Reading the input (row counts, shard digests) can take a while on large files: the
    # lease is renewed meanwhile, and a stop is heeded between files.
    with _heartbeat(run, worker_id), session_factory() as session:
        try:
            inputs = job_inputs(session=session, store=store, job=job, spec=spec)
            refs = plan_datums(
                session=session,
                store=store,
                files=inputs.files,
                spec=spec,
                halted=lambda: run.halted,
            )
        except TerminalError as exc:
            jobs.fail_job(session=session, job_id=job.id, error=f"cannot read the input: {exc}")
            return _progress(session.get_one(Job, job.id))
    run.refs = refs or []
    with _heartbeat(run, worker_id):
        adoption = None if refs is None else _work(run)
    with session_factory() as session:
        if adoption is not None:
            if not _finish(session, session.get_one(Job, job.id), worker_id, run, inputs, adoption):
                logger.warning("job %s: another worker took it over at the end", job.id)
        elif run.lease_lost.is_set():
            logger.warning("job %s: another worker took it over; stopping", job.id)
        else:
            jobs.release_job(session=session, job_id=job.id, worker_id=worker_id)
        return _report(run, _progress(session.get_one(Job, job.id)))


def _work(run: _Run) -> Adoption | None:
    """Adoption passes and execution rounds until no datum is left; None when halted."""
    while not run.halted:
        with run.sessions() as session:
            job = session.get_one(Job, run.job_id)
            adoption = adopt_datums(
                session=session,
                job=job,
                refs=run.refs,
                owner_is_live=lambda owner: jobs.is_live(owner, run.policy.lease_s),
                settled=run.settled,
            )
            jobs.record_counts(session=session, job=job, total=len(run.refs), adoption=adoption)
        _report(run, _progress(job))
        now = time.monotonic()
        due = [d for d in adoption.runnable if run.retry_at.get(d.id, 0.0) <= now]
        if due:
            _execute(run, due, adoption)
        elif adoption.runnable:
            # Only the runnable datums' own backoffs count: an entry of a datum settled since
            # lies in the past, and a negative wait would spin the adoption loop.
            next_try = min(run.retry_at[d.id] for d in adoption.runnable)
            run.stop.wait(max(0.0, min(run.policy.poll_s, next_try - now)))
        elif adoption.waiting:
            run.stop.wait(run.policy.poll_s)  # another live job is computing some of our datums
        else:
            return adoption
    return None


def _execute(run: _Run, datums: list[Datum], adoption: Adoption) -> None:
    tasks = [
        DatumTask(
            d.id,
            d.blob_sha256,
            d.shard_start,
            d.shard_stop,
            run.spec.model_spec(),
            run.spec.reader_options(),
        )
        for d in datums
    ]
    with run.sessions() as session:
        mark_running(session, run.job_id, [task.datum_id for task in tasks])
    counts = JobProgress(
        run.job_id,
        JobState.RUNNING,
        len(run.refs),
        adoption.processed,
        adoption.skipped,
        adoption.failed,
    )
    for outcome in run.executor.map_unordered(tasks):
        with run.sessions() as session:
            final = _record(session, run, outcome)
        if outcome.error is None:
            counts = _bump(counts, processed=1)
        elif final:
            counts = _bump(counts, failed=1)
        _report(run, counts)
        if run.halted:
            break


def _record(session: Session, run: _Run, outcome: DatumOutcome) -> bool:
    """Store one datum's outcome in one transaction; True when the datum is settled.

    A transient failure (storage or database away) costs no try for its first
    ``OUTAGE_RETRIES`` in a row, waiting longer each time, so an outage of a few minutes
    fails no datum; after that it counts like any other failure.
    """
    datum = session.get_one(Datum, outcome.datum_id)
    mine = (Datum.id == outcome.datum_id, Datum.job_id == run.job_id)
    outages = run.outages.get(outcome.datum_id, 0) + 1
    if outcome.error is not None and outcome.transient and outages <= OUTAGE_RETRIES:
        run.outages[outcome.datum_id] = outages
        run.retry_at[outcome.datum_id] = time.monotonic() + doubling_pause(
            run.policy.retry_backoff_s, outages, MAX_OUTAGE_PAUSE_S
        )
        session.execute(
            update(Datum)
            .where(*mine)
            .values(state=DatumState.PENDING, error=outcome.error)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return False
    if not outcome.transient:  # an outage that outlasted its free retries keeps counting
        run.outages.pop(outcome.datum_id, None)
    tries = datum.tries + 1
    if outcome.error is None and outcome.result_sha256 is not None:
        record_blob(session, outcome.result_sha256, outcome.result_size or 0)
        values: dict[str, object] = {
            "state": DatumState.DONE,
            "tries": tries,
            "error": None,
            "result_sha256": outcome.result_sha256,
            "rows": outcome.rows,
            "error_rows": outcome.error_rows,
        }
        settled = True
    else:
        settled = tries >= run.spec.datum_tries
        values = {
            "state": DatumState.FAILED if settled else DatumState.PENDING,
            "tries": tries,
            "error": outcome.error or "no result",
        }
        run.retry_at[outcome.datum_id] = time.monotonic() + doubling_pause(
            run.policy.retry_backoff_s, tries
        )
    session.execute(
        update(Datum).where(*mine).values(**values).execution_options(synchronize_session=False)
    )
    # The job's counters follow each settled datum (GET /jobs mid-run), not only each round.
    counter = Job.processed if outcome.error is None else Job.failed if settled else None
    if counter is not None:
        session.execute(
            update(Job)
            .where(Job.id == run.job_id)
            .values({counter: counter + 1})
            .execution_options(synchronize_session=False)
        )
    session.commit()
    if settled:
        run.settled.add(outcome.datum_id)
        run.retry_at.pop(outcome.datum_id, None)
    return settled


def _finish(
    session: Session, job: Job, worker_id: str, run: _Run, inputs: JobInputs, adoption: Adoption
) -> bool:
    datums = load_datums(session, [ref.id for ref in run.refs])
    results = {
        datum_id: datum.result_sha256
        for datum_id, datum in datums.items()
        if datum.state == DatumState.DONE and datum.result_sha256 is not None
    }
    commit = jobs.finish_job(
        session=session,
        job=job,
        worker_id=worker_id,
        spec=run.spec,
        inputs=inputs,
        refs=run.refs,
        adoption=adoption,
        results=results,
    )
    return commit is not None


@contextmanager
def _heartbeat(run: _Run, worker_id: str) -> Iterator[None]:
    """Renew the job's lease in the background; sets ``run.lease_lost`` if it is taken over."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(run.policy.lease_s / 4):
            try:
                with run.sessions() as session:
                    if not jobs.beat(session=session, job_id=run.job_id, worker_id=worker_id):
                        run.lease_lost.set()
                        return
            except Exception as exc:  # the database is away: keep trying, the lease may hold
                logger.warning("job %s: heartbeat failed: %s", run.job_id, exc)

    thread = threading.Thread(target=renew, name=f"qaflow-heartbeat-{run.job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _progress(job: Job) -> JobProgress:
    return JobProgress(job.id, job.state, job.total, job.processed, job.skipped, job.failed)


def _bump(progress: JobProgress, *, processed: int = 0, failed: int = 0) -> JobProgress:
    return JobProgress(
        progress.job_id,
        progress.state,
        progress.total,
        progress.processed + processed,
        progress.skipped,
        progress.failed + failed,
    )


def _report(run: _Run, progress: JobProgress) -> JobProgress:
    if run.on_progress is not None:
        run.on_progress(progress)
    return progress
