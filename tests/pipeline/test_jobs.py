"""Planning and claiming jobs: one job per input commit, one worker per job."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from qaflow.db import Job, JobState, utc_now
from qaflow.pipeline import jobs
from qaflow.pipeline.spec import current_version
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
        job.worker_id = f"{socket.gethostname()}:{ended.pid}:gone"
        job.heartbeat_at = utc_now()
        session.commit()
        assert jobs.is_abandoned(job, lease_s=60)
        taken = jobs.claim_job(session=session, worker_id="new:1:w", lease_s=60)
        assert taken is not None
        assert taken.id == job.id
