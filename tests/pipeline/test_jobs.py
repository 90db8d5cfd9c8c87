"""Planning and claiming jobs: one job per input commit, one worker per job."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from qaflow.db import Datum, Job, JobState, PipelineVersion, ShardDigest, utc_now
from qaflow.pipeline import jobs
from qaflow.pipeline.datums import adopt_datums, job_inputs
from qaflow.pipeline.executors import InProcessExecutor
from qaflow.pipeline.planning import plan_datums
from qaflow.pipeline.runner import JobProgress, RunPolicy, run_job
from qaflow.pipeline.spec import current_version, spec_of
from qaflow.reader import default_onnx_cache_dir
from qaflow.services import pipeline_service
from qaflow.services.runtime import Runtime
from tests.pipeline.pipeline_support import (
    OTHER_MODEL,
    question_csv,
    register_model,
    update_pipeline,
    upload,
)


def _plan(runtime: Runtime) -> list[Job]:
    with runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        return jobs.plan_jobs(
            session=session, version=current_version(session=session, name="question_answer")
        )


def test_each_commit_gets_one_job_and_planning_again_adds_none(runtime: Runtime) -> None:
    uploads = [upload(runtime, question_csv(2, first=10 * n), f"{n}.csv") for n in range(3)]

    planned = _plan(runtime)

    assert [job.input_commit_id for job in planned] == [u.commit_id for u in uploads]
    assert _plan(runtime) == []
    with runtime.sessions() as session:
        assert current_version(session=session, name="question_answer").planned_seq == 3


def test_a_new_version_takes_the_commits_not_yet_planned(
    runtime: Runtime, other_model_dir: Path
) -> None:
    upload(runtime, question_csv(2))
    [first] = _plan(runtime)
    pending = upload(runtime, question_csv(2, first=5), "later.csv")
    register_model(runtime, OTHER_MODEL, other_model_dir)
    update_pipeline(runtime, model=OTHER_MODEL)

    [second] = _plan(runtime)

    assert second.input_commit_id == pending.commit_id
    assert second.pipeline_version_id != first.pipeline_version_id


def test_one_worker_per_job_until_its_lease_runs_out(runtime: Runtime) -> None:
    upload(runtime, question_csv(2))
    _plan(runtime)
    me = f"{socket.gethostname()}:1:me"
    with runtime.sessions() as session:
        claimed = jobs.claim_job(session=session, worker_id="elsewhere:1:a", lease_s=60)
        assert claimed is not None
        assert claimed.state == JobState.RUNNING
        assert jobs.claim_job(session=session, worker_id=me, lease_s=60) is None
        assert jobs.beat(session=session, job_id=claimed.id, worker_id="elsewhere:1:a")

        claimed.heartbeat_at = utc_now() - timedelta(seconds=61)
        session.commit()
        taken = jobs.claim_job(session=session, worker_id=me, lease_s=60)
        assert taken is not None
        assert (taken.id, taken.worker_id) == (claimed.id, me)
        assert not jobs.beat(session=session, job_id=claimed.id, worker_id="elsewhere:1:a")


def test_a_job_whose_worker_process_died_is_taken_over_at_once(runtime: Runtime) -> None:
    upload(runtime, question_csv(2))
    _plan(runtime)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    with runtime.sessions() as session:
        job = session.scalars(select(Job)).one()
        job.state = JobState.RUNNING
        # Another pid space on this host (a container on the host network): the pid says
        # nothing there, so only the lease can tell.
        job.worker_id = f"{socket.gethostname()}@1:{ended.pid}:elsewhere"
        job.heartbeat_at = utc_now()
        session.commit()
        assert not jobs.is_abandoned(job, lease_s=60)
        job.worker_id = f"{jobs.process_space()}:{ended.pid}:gone"
        session.commit()
        assert jobs.is_abandoned(job, lease_s=60)
        taken = jobs.claim_job(session=session, worker_id="new:1:w", lease_s=60)
        assert taken is not None
        assert taken.id == job.id


def test_datums_of_a_job_handed_back_to_the_queue_are_taken_over(runtime: Runtime) -> None:
    # Two uploads of the same bytes share their datums. The first job adopts them, then its
    # worker stops and hands it back; the second job must run them, not wait for a job that
    # nobody is running.
    data = question_csv(6)
    upload(runtime, data, "a.csv")
    upload(runtime, data, "b.csv")
    _plan(runtime)
    with runtime.sessions() as session:
        first = jobs.claim_job(session=session, worker_id="w1:1:a", lease_s=60)
        second = jobs.claim_job(session=session, worker_id="w2:1:b", lease_s=60)
        assert first is not None
        assert second is not None
        spec = spec_of(session.get_one(PipelineVersion, first.pipeline_version_id))
        inputs = job_inputs(session=session, store=runtime.store, job=first, spec=spec)
        adopted = adopt_datums(
            session=session,
            job=first,
            refs=plan_datums(session=session, store=runtime.store, files=inputs.files, spec=spec),
            owner_is_live=lambda owner: jobs.is_live(owner, 60),
            settled=set(),
        )
        assert len(adopted.runnable) == 2
        jobs.release_job(session=session, job_id=first.id, worker_id="w1:1:a")
        session.refresh(first)
        assert first.state == JobState.QUEUED
        assert not jobs.is_live(first, 60)

    progress = _run(runtime, second, "w2:1:b", _stop_after(seconds=30))

    assert (progress.state, progress.processed, progress.skipped) == (JobState.DONE, 2, 0)


def _run(runtime: Runtime, job: Job, worker_id: str, stop: threading.Event) -> JobProgress:
    """Run ``job``, claimed by ``worker_id``, in this process until it ends or ``stop`` is set."""
    return run_job(
        session_factory=runtime.sessions,
        store=runtime.store,
        executor=InProcessExecutor(
            store=runtime.store, onnx_cache_dir=default_onnx_cache_dir(runtime.settings)
        ),
        job=job,
        worker_id=worker_id,
        policy=RunPolicy(lease_s=60, retry_backoff_s=0.05, poll_s=0.05),
        stop=stop,
    )


def _stop_after(*, seconds: float) -> threading.Event:
    """An event set after ``seconds``: a job that would wait forever ends instead of hanging."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


def test_a_worker_stopped_while_planning_hands_the_job_back_before_any_datum(
    runtime: Runtime,
) -> None:
    upload(runtime, question_csv(6))
    [planned] = _plan(runtime)
    with runtime.sessions() as session:
        job = jobs.claim_job(session=session, worker_id="w1:1:a", lease_s=60)
    assert job is not None
    assert job.id == planned.id
    stop = threading.Event()
    stop.set()  # e.g. SIGTERM while the job's files are being digested

    progress = _run(runtime, job, "w1:1:a", stop)

    assert progress.state == JobState.QUEUED
    with runtime.sessions() as session:
        assert session.scalars(select(Datum)).all() == []
        assert session.scalars(select(ShardDigest)).all() == []
