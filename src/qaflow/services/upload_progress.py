"""How far the pipeline is with uploads: one upload or a whole page in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qaflow.db import (
    Commit,
    Datum,
    DatumState,
    Job,
    JobScope,
    JobState,
    PipelineVersion,
    Upload,
)
from qaflow.pipeline import spec as pipeline_spec
from qaflow.pipeline.datums import DatumRef, InputFile, in_chunks, load_datums, shard
from qaflow.pipeline.planning import file_keyed, preferred
from qaflow.pipeline.shard_digests import Digests, known_digests
from qaflow.pipeline.spec import QUESTION_ANSWER, PipelineSpec, spec_of
from qaflow.services.pipeline_schemas import JobStateName, UploadStatus

# Per upload: the job that covers it, the version it runs with, and its datums.
Planned = list[tuple[Upload, Job | None, PipelineVersion, list[DatumRef]]]


def upload_statuses(
    *, session: Session, uploads: Sequence[Upload], pipeline: str = QUESTION_ANSWER
) -> list[UploadStatus]:
    """The status of each upload, in the order given: the newest job that covers it (one over
    its commit, or a reprocess over a later one) and the progress of its datums.

    The queries do not grow with the number of uploads (beyond chunks of
    :data:`~qaflow.pipeline.datums.IN_CHUNK` ids): a page of uploads costs what one does.
    """
    if not uploads:
        return []
    commit_ids = sorted({upload.commit_id for upload in uploads})
    jobs = _with_reprocess_jobs(session, commit_ids, _newest_jobs(session, commit_ids))
    versions = _versions(session, {job.pipeline_version_id for job in jobs.values()})
    current: PipelineVersion | None = None
    specs: dict[int, PipelineSpec] = {}  # parsed once per version, not once per upload
    # A job computes its files' digests when it plans them; before that there are no datums.
    digests = known_digests(session, {upload.sha256 for upload in uploads})
    planned: Planned = []
    earlier: dict[str, str] = {}  # digest-keyed id -> the file-keyed id of the same rows
    unread: dict[str, str] = {}  # upload id -> why the pipeline's glob leaves it out
    for upload in uploads:
        job = jobs.get(upload.commit_id)
        if job is not None:
            version = versions[job.pipeline_version_id]
        else:
            # Before its first job, an upload will run with the pipeline's current version.
            current = current or pipeline_spec.current_version(session=session, name=pipeline)
            version = current
        if version.id not in specs:
            specs[version.id] = spec_of(version)
        spec = specs[version.id]
        refs: list[DatumRef] = []
        if fnmatchcase(upload.path, spec.glob):
            refs = shard([InputFile(upload.path, upload.sha256, upload.rows)], spec, digests)
            earlier.update(file_keyed(refs, spec))
        else:  # a path the glob leaves out has no datums: none to wait for
            unread[upload.id] = _unread_note(upload, spec)
        planned.append((upload, job, version, refs))
    ids = {ref.id for *_, refs in planned for ref in refs} | set(earlier.values())
    datums = load_datums(session, sorted(ids))
    # As a job plans them: work keyed by file, from before shard digests, is found too.
    planned = [(u, j, v, preferred(refs, earlier, datums)) for u, j, v, refs in planned]
    planned = _with_earlier_shardings(session, planned, datums, specs, digests)
    outputs = _commits(session, {job.output_commit_id for job in jobs.values()})
    return [
        _status(upload, job, refs, datums, outputs, version, unread.get(upload.id))
        for upload, job, version, refs in planned
    ]


def _with_earlier_shardings(
    session: Session,
    planned: Planned,
    datums: dict[str, Datum],
    specs: Mapping[int, PipelineSpec],
    digests: Digests,
) -> Planned:
    """Uploads whose job ended without all the datums the current ``shard_rows`` cuts: their
    rows were cut by an earlier ``shard_rows`` (an operational setting, changed in place), so
    their progress is read from the datums of that cut. Adds those datums to ``datums``.

    A job that ended made every datum of its cut, so a cut with any datum missing is not its
    own, even if some of its datums exist: other files or cuts may share their rows."""
    ended = (JobState.DONE, JobState.FAILED)
    stale = [
        index
        for index, (_, job, _, refs) in enumerate(planned)
        if job is not None and job.state in ended and refs and not all(r.id in datums for r in refs)
    ]
    if not stale:
        return planned
    widths = _earlier_widths(session, {planned[index][0].sha256 for index in stale}, digests)
    cuts = {
        index: _cuts(planned[index][0], specs[planned[index][2].id], widths, digests)
        for index in stale
    }
    found = load_datums(session, sorted({r.id for c in cuts.values() for cut in c for r in cut}))
    datums.update(found)
    fixed = list(planned)
    for index in stale:
        upload, job, version, refs = planned[index]
        complete = [cut for cut in cuts[index] if all(ref.id in found for ref in cut)]
        # The newest cut: the one whose datums were last worked on.
        newest = max(
            complete, key=lambda cut: max(found[ref.id].updated_at for ref in cut), default=None
        )
        fixed[index] = (upload, job, version, newest or refs)
    return fixed


def _earlier_widths(session: Session, shas: set[str], digests: Digests) -> dict[str, set[int]]:
    """Per file content, the shard widths its rows were cut by: its first shard's stop."""
    widths: dict[str, set[int]] = {sha: set() for sha in shas}
    for sha, start, stop in digests:
        if start == 0 and sha in widths:
            widths[sha].add(stop)
    # Datums made before shard digests existed carry their file's hash.
    for chunk in in_chunks(sorted(shas)):
        query = select(Datum.blob_sha256, Datum.shard_stop).where(
            Datum.blob_sha256.in_(chunk), Datum.shard_start == 0
        )
        for sha, stop in session.execute(query):
            widths[sha].add(stop)
    return widths


def _cuts(
    upload: Upload, spec: PipelineSpec, widths: Mapping[str, set[int]], digests: Digests
) -> list[list[DatumRef]]:
    """The upload's datums under each earlier width, keyed by shard digest and by file hash
    (a job that planned it before digests existed keyed them so)."""
    entry = [InputFile(upload.path, upload.sha256, upload.rows)]
    cuts = (
        shard(entry, spec.model_copy(update={"shard_rows": max(width, 1)}), keys)
        for width in sorted(widths[upload.sha256])
        for keys in (digests, {})
    )
    # Without digests both keys give the same cut: each once.
    return list({tuple(ref.id for ref in cut): cut for cut in cuts}.values())


def _unread_note(upload: Upload, spec: PipelineSpec) -> str:
    return (
        f"not read: its path {upload.path!r} does not match the pipeline's glob {spec.glob!r} "
        "(change the glob, then reprocess, to read it)"
    )


def _status(
    upload: Upload,
    job: Job | None,
    refs: Sequence[DatumRef],
    datums: Mapping[str, Datum],
    outputs: Mapping[str, Commit],
    version: PipelineVersion,
    unread: str | None,
) -> UploadStatus:
    # In shard order, so the errors list the failed row ranges first to last.
    own = [datums[ref.id] for ref in refs if ref.id in datums]
    done = [d for d in own if d.state == DatumState.DONE]
    failed = [d for d in own if d.state == DatumState.FAILED]
    output = (
        None if job is None or job.output_commit_id is None else outputs.get(job.output_commit_id)
    )
    return UploadStatus(
        id=upload.id,
        filename=upload.filename,
        rows=upload.rows,
        commit_id=upload.commit_id,
        state=_state(job, failed),
        job_id=None if job is None else job.id,
        pipeline_version=version.version,
        datums_total=len(refs),
        datums_done=len(done),
        datums_failed=len(failed),
        progress=share(len(done) + len(failed), len(refs)),
        error_rows=sum(d.error_rows or 0 for d in done),
        errors=[f"rows {d.shard_start}-{d.shard_stop}: {d.error}" for d in failed]
        + ([unread] if unread else []),
        output_commit_id=None if output is None else output.id,
        egressed=output is not None and output.egressed_at is not None,
    )


def _state(job: Job | None, failed: Sequence[Datum]) -> JobStateName:
    if job is None:
        return JobState.QUEUED.value
    if job.state == JobState.DONE and failed:
        # The job ended, but some of this upload's rows have no answer: not done.
        return JobState.FAILED.value
    return job.state.value


def share(part: int, whole: int) -> float:
    """``part / whole`` rounded to 4 places; 1.0 when there is nothing to do."""
    return 1.0 if whole == 0 else round(part / whole, 4)


def _newest_jobs(session: Session, commit_ids: Sequence[str]) -> dict[str, Job]:
    """The newest job over each of the input commits that has one, by commit id."""
    newest: dict[str, Job] = {}
    for chunk in in_chunks(commit_ids):
        rank = (
            func.row_number()
            .over(
                partition_by=Job.input_commit_id,
                order_by=(Job.created_at.desc(), Job.id.desc()),
            )
            .label("rank")
        )
        ranked = select(Job.id, rank).where(Job.input_commit_id.in_(chunk)).subquery()
        query = select(Job).join(ranked, ranked.c.id == Job.id).where(ranked.c.rank == 1)
        newest.update({job.input_commit_id: job for job in session.scalars(query)})
    return newest


def _with_reprocess_jobs(
    session: Session, commit_ids: Sequence[str], newest: Mapping[str, Job]
) -> dict[str, Job]:
    """``newest``, where a newer reprocess job (scope all, over the same or a later commit of
    the input repo) covers the upload: its results are the ones the upload now shows.

    Only the newest reprocess job can matter: reprocess runs over the input repo's HEAD, so a
    later one never runs over an earlier commit, and covers whatever an earlier one covered.
    """
    latest = session.execute(
        select(Job, Commit.seq)
        .join(Commit, Commit.id == Job.input_commit_id)
        .where(Job.scope == JobScope.ALL)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    ).first()
    covering = dict(newest)
    if latest is None:
        return covering
    reprocess, reprocess_seq = latest
    for chunk in in_chunks(commit_ids):
        rows = session.execute(select(Commit.id, Commit.seq).where(Commit.id.in_(chunk)))
        for commit_id, seq in rows:
            own = covering.get(commit_id)
            newer = own is None or (reprocess.created_at, reprocess.id) > (own.created_at, own.id)
            if reprocess_seq >= seq and newer:
                covering[commit_id] = reprocess
    return covering


def _versions(session: Session, version_ids: set[int]) -> dict[int, PipelineVersion]:
    if not version_ids:
        return {}
    query = select(PipelineVersion).where(PipelineVersion.id.in_(sorted(version_ids)))
    return {version.id: version for version in session.scalars(query)}


def _commits(session: Session, commit_ids: set[str | None]) -> dict[str, Commit]:
    wanted = sorted(commit_id for commit_id in commit_ids if commit_id is not None)
    found: dict[str, Commit] = {}
    for chunk in in_chunks(wanted):
        found.update({c.id: c for c in session.scalars(select(Commit).where(Commit.id.in_(chunk)))})
    return found
