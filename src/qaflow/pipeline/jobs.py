"""Jobs: planned per input commit, claimed by one worker at a time, ended by one output commit.

State changes that workers could race on (planning, claiming, heartbeats) are compare-and-set
UPDATEs, so they are safe across processes and hosts on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qaflow.db import (
    Commit,
    CommitOrigin,
    Datum,
    DatumState,
    Job,
    JobScope,
    JobState,
    PipelineVersion,
    RepoKind,
    utc_now,
)
from qaflow.errors import ConflictError, NotFoundError
from qaflow.pipeline._sql import updated_one
from qaflow.pipeline.datums import Adoption, DatumRef, JobInputs, output_files_under
from qaflow.pipeline.spec import PipelineSpec, current_version, follow_model_weights, spec_of
from qaflow.versioning import create_commit, ensure_repo, get_repo, latest_commit

PLAN_BATCH = 1000
_MAX_LISTED_ERRORS = 20


def new_worker_id() -> str:
    """``machine:pid:random``: unique, and tells a worker on the same machine whether it still
    runs (``machine`` is the host name and the process-id namespace, see ``process_space``)."""
    return f"{process_space()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_space() -> str:
    """Where a process id means the same process: the host name, plus the pid namespace where
    Linux has them. Containers on one host network share the host name, not the pid space."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}@{namespace}"


def plan_jobs(*, session: Session, version: PipelineVersion) -> list[Job]:
    """Queue a 'changes' job for each input commit newer than the version's watermark; commits.

    Reads only the commits after the watermark (an index range), so planning costs the same
    however long the input repo's history is. Returns the jobs queued by this call.
    """
    spec = spec_of(version)
    try:
        repo = get_repo(session=session, name=spec.input_repo)
    except NotFoundError:
        return []  # nothing uploaded yet
    commits = list(
        session.scalars(
            select(Commit)
            .where(Commit.repo_id == repo.id, Commit.seq > version.planned_seq)
            .order_by(Commit.seq)
            .limit(PLAN_BATCH)
        )
    )
    if not commits:
        return []
    moved = updated_one(
        session,
        update(PipelineVersion)
        .where(
            PipelineVersion.id == version.id,
            PipelineVersion.planned_seq == version.planned_seq,
        )
        .values(planned_seq=commits[-1].seq),
    )
    if not moved:
        session.rollback()  # another worker planned these commits
        return []
    jobs = [_new_job(version.id, commit.id, JobScope.CHANGES) for commit in commits]
    session.add_all(jobs)
    try:
        session.commit()
    except sa_exc.IntegrityError:
        session.rollback()
        return []
    session.refresh(version)
    return jobs


def reprocess(*, session: Session, name: str) -> Job:
    """Queue a job over the whole HEAD of the pipeline's input repo with its current version.

    Datums already done under this version are skipped, so after a model change this reruns
    all old data with the new model, and otherwise costs one look-up per datum. Weights changed
    at the model reference make a new version first. Commits.
    """
    version, _ = follow_model_weights(
        session=session, version=current_version(session=session, name=name)
    )
    head = input_head(session=session, spec=spec_of(version))
    existing = _find_job(session, version.id, head.id, JobScope.ALL)
    if existing is not None:
        if existing.state == JobState.FAILED or (
            existing.state == JobState.DONE and existing.failed
        ):
            _requeue(session, existing)
        return existing
    job = _new_job(version.id, head.id, JobScope.ALL)
    session.add(job)
    try:
        session.commit()
    except sa_exc.IntegrityError:
        session.rollback()
        found = _find_job(session, version.id, head.id, JobScope.ALL)
        if found is None:
            raise
        return found
    return job


def _requeue(session: Session, job: Job) -> None:
    """Queue an ended job again, its failed datums with fresh tries; commits.

    One job per (version, input commit, scope), so asking again to reprocess the same tree
    reruns that job: its done datums are kept, its failed ones are tried anew.
    """
    session.execute(
        update(Datum)
        .where(Datum.job_id == job.id, Datum.state == DatumState.FAILED)
        .values(state=DatumState.PENDING, tries=0, error=None)
        .execution_options(synchronize_session=False)
    )
    job.state = JobState.QUEUED
    job.worker_id = None
    job.heartbeat_at = None
    job.error = None
    job.finished_at = None
    session.commit()


def input_head(*, session: Session, spec: PipelineSpec) -> Commit:
    """The newest commit of the pipeline's input repo: what a reprocess job runs over.

    ConflictError when there is none yet: nothing has been uploaded, so nothing can be rerun.
    """
    try:
        head = latest_commit(session=session, repo=get_repo(session=session, name=spec.input_repo))
    except NotFoundError:
        head = None
    if head is None:
        raise ConflictError(
            f"Nothing to reprocess: the input repo '{spec.input_repo}' has no commits yet."
        )
    return head


def claim_job(*, session: Session, worker_id: str, lease_s: float) -> Job | None:
    """Take the oldest job that is queued or abandoned; None when there is none. Commits."""
    query = (
        select(Job)
        .where(Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
        .order_by(Job.created_at, Job.id)
        .limit(100)
    )
    for job in session.scalars(query).all():
        if job.state == JobState.RUNNING and not is_abandoned(job, lease_s, me=worker_id):
            continue
        now = utc_now()
        claimed = updated_one(
            session,
            update(Job)
            .where(
                Job.id == job.id,
                Job.state == job.state,
                Job.worker_id.is_not_distinct_from(job.worker_id),
                Job.heartbeat_at.is_not_distinct_from(job.heartbeat_at),
            )
            .values(
                state=JobState.RUNNING,
                worker_id=worker_id,
                heartbeat_at=now,
                started_at=job.started_at or now,
            ),
        )
        session.commit()
        if claimed:
            session.refresh(job)
            return job
    return None


def is_abandoned(job: Job, lease_s: float, *, me: str | None = None) -> bool:
    """Whether a running job's worker is gone: its heartbeat is stale or its process ended.

    A worker id of ``me`` is abandoned too: this worker is not running it right now.
    """
    if job.state != JobState.RUNNING:
        return False
    if job.worker_id is None or job.worker_id == me:
        return True
    if job.heartbeat_at is None or utc_now() - job.heartbeat_at > timedelta(seconds=lease_s):
        return True
    space, _, rest = job.worker_id.partition(":")
    pid = rest.partition(":")[0]
    return space == process_space() and pid.isdigit() and not _process_alive(int(pid))


def is_live(job: Job, lease_s: float) -> bool:
    """Whether a worker is running ``job`` now, so that its datums are worth waiting for.

    A job handed back to the queue, or ended, is nobody's work in progress.
    """
    return job.state == JobState.RUNNING and not is_abandoned(job, lease_s)


def beat(*, session: Session, job_id: str, worker_id: str) -> bool:
    """Renew the job's lease; False when another worker has taken the job over. Commits."""
    renewed = updated_one(
        session,
        update(Job)
        .where(Job.id == job_id, Job.worker_id == worker_id, Job.state == JobState.RUNNING)
        .values(heartbeat_at=utc_now()),
    )
    session.commit()
    return renewed


def release_job(*, session: Session, job_id: str, worker_id: str) -> None:
    """Hand a job this worker stops early back to the queue; commits."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker_id == worker_id, Job.state == JobState.RUNNING)
        .values(state=JobState.QUEUED, worker_id=None, heartbeat_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def record_counts(*, session: Session, job: Job, total: int, adoption: Adoption) -> None:
    """Store the job's progress as an adoption pass found it; commits."""
    job.total = total
    job.processed = adoption.processed
    job.skipped = adoption.skipped
    job.failed = adoption.failed
    job.heartbeat_at = utc_now()
    session.commit()


def finish_job(
    *,
    session: Session,
    job: Job,
    worker_id: str,
    spec: PipelineSpec,
    inputs: JobInputs,
    refs: list[DatumRef],
    adoption: Adoption,
    results: dict[str, str],
) -> Commit | None:
    """Write the job's one output commit and end it, in one transaction; commits.

    ``results`` maps datum ids to result blobs. Every datum that has a result is put, whether
    this job computed it or found it done, so the output repo mirrors the input repo. Returns
    None, writing nothing, when ``worker_id`` no longer holds the job.
    """
    repo = ensure_repo(
        session=session,
        name=spec.name,
        kind=RepoKind.OUTPUT,
        description=f"Output of pipeline {spec.name}: answers per input file and row range.",
    )
    puts = {ref.output_path: results[ref.id] for ref in refs if ref.id in results}
    deletes = _output_deletes(session, repo.id, inputs, refs)
    version = session.get_one(PipelineVersion, job.pipeline_version_id)
    commit = create_commit(
        session=session,
        repo=repo,
        puts=puts,
        deletes=deletes,
        origin=CommitOrigin.PIPELINE,
        message=f"{spec.name} v{version.version} ({job.scope.value}) over input commit "
        f"{job.input_commit_id}",
        input_commit_id=job.input_commit_id,
        job_id=job.id,
        pipeline_version_id=job.pipeline_version_id,
    )
    all_failed = bool(refs) and adoption.failed == len(refs)
    # Compare-and-set on the lease: a worker that lost the job writes no second output commit.
    ended = updated_one(
        session,
        update(Job)
        .where(Job.id == job.id, Job.worker_id == worker_id, Job.state == JobState.RUNNING)
        .values(
            output_commit_id=commit.id,
            total=len(refs),
            processed=adoption.processed,
            skipped=adoption.skipped,
            failed=adoption.failed,
            state=JobState.FAILED if all_failed else JobState.DONE,
            error=_list_errors(adoption.failures),
            finished_at=utc_now(),
        ),
    )
    if not ended:
        session.rollback()
        return None
    session.commit()
    return commit


def _output_deletes(
    session: Session, repo_id: int, inputs: JobInputs, refs: list[DatumRef]
) -> list[str]:
    """Output files to drop: those of deleted inputs, and those of this job's inputs that none
    of its datums writes (row ranges of an older ``shard_rows``), so each row has one output."""
    current = {ref.output_path for ref in refs}
    gone = [
        entry.path
        for path in inputs.deleted
        for entry in output_files_under(session=session, repo_id=repo_id, input_path=path)
    ]
    stale = [
        entry.path
        for file in inputs.files
        for entry in output_files_under(session=session, repo_id=repo_id, input_path=file.path)
        if entry.path not in current
    ]
    return gone + stale


def fail_job(*, session: Session, job_id: str, error: str) -> None:
    """End a job that cannot run at all (its input cannot be read); commits."""
    job = session.get_one(Job, job_id)
    job.state = JobState.FAILED
    job.error = error
    job.finished_at = utc_now()
    session.commit()


def _list_errors(failures: list[tuple[str, str]]) -> str | None:
    if not failures:
        return None
    lines = [f"{path}: {error}" for path, error in failures[:_MAX_LISTED_ERRORS]]
    if len(failures) > _MAX_LISTED_ERRORS:
        lines.append(f"... and {len(failures) - _MAX_LISTED_ERRORS} more failed datums")
    return "\n".join(lines)


def _new_job(version_id: int, commit_id: str, scope: JobScope) -> Job:
    return Job(
        id=uuid.uuid4().hex,
        pipeline_version_id=version_id,
        input_commit_id=commit_id,
        scope=scope,
        state=JobState.QUEUED,
        created_at=utc_now(),
    )


def _find_job(session: Session, version_id: int, commit_id: str, scope: JobScope) -> Job | None:
    query = select(Job).where(
        Job.pipeline_version_id == version_id,
        Job.input_commit_id == commit_id,
        Job.scope == scope,
    )
    return session.scalars(query).one_or_none()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
