"""Datums: which row shards a job covers, and who processes each.

A datum's id hashes the pipeline's ``spec_hash``, the shard's content (its digest, see
:mod:`qaflow.pipeline.shard_digests`) and the row range, so finding work already done under the
same spec is a primary-key look-up per datum, never a scan of history, and a file that keeps
some shards of an earlier one reuses them (:mod:`qaflow.pipeline.planning` makes the refs).
Ownership moves between jobs with compare-and-set updates, so two workers never both think they
own a datum.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qaflow.db import (
    Blob,
    Commit,
    Datum,
    DatumState,
    FileOp,
    Job,
    JobScope,
    RepoFile,
    Upload,
    insert_ignoring_duplicates,
)
from qaflow.errors import InvalidInputError
from qaflow.pipeline._sql import IN_CHUNK, updated_one
from qaflow.pipeline._sql import in_chunks as in_chunks  # part of this module's surface
from qaflow.pipeline.csvio import validate_csv_stream
from qaflow.pipeline.shard_digests import Digests, shard_ranges
from qaflow.pipeline.spec import PipelineSpec
from qaflow.storage import ObjectStore
from qaflow.versioning import blob_key, commit_changes, get_repo, head_files

_OUTPUT_NAME = re.compile(r"rows-(\d+)-(\d+)\.parquet")


@dataclass(frozen=True, slots=True)
class InputFile:
    path: str
    blob_sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class DatumRef:
    """One datum of a job: rows ``[start, stop)`` of the input file at ``path``."""

    id: str
    path: str
    blob_sha256: str
    start: int
    stop: int

    @property
    def output_path(self) -> str:
        """Where the datum's results live in the pipeline's output repo."""
        return f"{self.path}/rows-{self.start}-{self.stop}.parquet"


def datum_id(spec_hash: str, blob_sha256: str, start: int, stop: int, digests: Digests) -> str:
    """The id of rows ``[start, stop)`` of the blob under the spec.

    Keyed by the shard's content digest when ``digests`` has it; otherwise by the whole file's
    hash, as datums were before shard digests existed (so their work is still found).
    """
    digest = digests.get((blob_sha256, start, stop))
    key = blob_sha256 if digest is None else f"shard-{digest}"
    return hashlib.sha256(f"{spec_hash}:{key}:{start}:{stop}".encode()).hexdigest()


def parse_output_path(path: str) -> tuple[str, int, int]:
    """The input path and row range of an output file, from its path."""
    directory, _, name = path.rpartition("/")
    match = _OUTPUT_NAME.fullmatch(name)
    if not directory or match is None:
        raise InvalidInputError(f"{path!r} is not a pipeline output path")
    return directory, int(match.group(1)), int(match.group(2))


def shard(files: Sequence[InputFile], spec: PipelineSpec, digests: Digests) -> list[DatumRef]:
    """The datums of ``files``: row ranges of at most ``spec.shard_rows`` rows."""
    spec_hash = spec.spec_hash
    return [
        DatumRef(
            datum_id(spec_hash, entry.blob_sha256, start, stop, digests),
            entry.path,
            entry.blob_sha256,
            start,
            stop,
        )
        for entry in files
        for start, stop in shard_ranges(entry.rows, spec.shard_rows)
    ]


@dataclass(frozen=True)
class JobInputs:
    """The files a job reads, and the input paths its input commit deleted."""

    files: list[InputFile]
    deleted: list[str]


def job_inputs(*, session: Session, store: ObjectStore, job: Job, spec: PipelineSpec) -> JobInputs:
    """The input files of ``job``: its commit's puts (scope 'changes') or the HEAD tree ('all')."""
    commit = session.get_one(Commit, job.input_commit_id)
    if job.scope == JobScope.ALL:
        repo = get_repo(session=session, name=spec.input_repo)
        entries = [(f.path, f.blob_sha256) for f in head_files(session=session, repo=repo)]
        deleted: list[str] = []
    else:
        changes = commit_changes(session=session, commit=commit)
        entries = [(c.path, c.blob_sha256) for c in changes if c.op == FileOp.PUT and c.blob_sha256]
        deleted = [c.path for c in changes if c.op == FileOp.DELETE]
    matching = [(path, sha) for path, sha in entries if fnmatchcase(path, spec.glob)]
    rows = _upload_rows(session, matching)
    files = [
        InputFile(path, sha, rows[path] if path in rows else _count_rows(store, sha))
        for path, sha in matching
    ]
    return JobInputs(files, [path for path in deleted if fnmatchcase(path, spec.glob)])


def output_files_under(*, session: Session, repo_id: int, input_path: str) -> list[RepoFile]:
    """The output repo's HEAD files made from the input file at ``input_path``."""
    prefix = input_path + "/"
    query = select(RepoFile).where(
        RepoFile.repo_id == repo_id, RepoFile.path.startswith(prefix, autoescape=True)
    )
    # SQLite's LIKE ignores case: the exact prefix check below is what decides.
    files = [entry for entry in session.scalars(query) if entry.path.startswith(prefix)]
    return sorted(files, key=lambda entry: parse_output_path(entry.path)[1])


def _upload_rows(session: Session, files: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Row counts of the files the uploads service committed (``<upload id>/<name>``)."""
    wanted = dict(files)
    ids = sorted({path.partition("/")[0] for path in wanted})
    rows: dict[str, int] = {}
    for chunk in in_chunks(ids):
        for upload in session.scalars(select(Upload).where(Upload.id.in_(chunk))):
            if wanted.get(upload.path) == upload.sha256:
                rows[upload.path] = upload.rows
    return rows


def _count_rows(store: ObjectStore, sha256: str) -> int:
    """Rows of a file committed by other means than an upload (checks the CSV too)."""
    with store.open_read(blob_key(sha256)) as source:
        return validate_csv_stream(source).rows


def load_datums(session: Session, ids: Sequence[str]) -> dict[str, Datum]:
    """The stored datums among ``ids``, by id (primary-key look-ups in chunks)."""
    found: dict[str, Datum] = {}
    for chunk in in_chunks(ids):
        found.update({d.id: d for d in session.scalars(select(Datum).where(Datum.id.in_(chunk)))})
    return found


@dataclass
class Adoption:
    """Where a job's datums stand after one adoption pass."""

    runnable: list[Datum] = field(default_factory=list)
    waiting: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def adopt_datums(
    *,
    session: Session,
    job: Job,
    refs: Sequence[DatumRef],
    owner_is_live: Callable[[Job], bool],
    settled: set[str],
) -> Adoption:
    """Take ownership of the job's datums nobody is working on; commits.

    A datum done under the same spec (by any job) is skipped. One that failed in another job,
    or whose owning job is gone, moves to this job as pending. One a live job is working on is
    waited for. ``settled`` holds datums that ended in this run: a failure there is final.
    """
    existing = load_datums(session, [ref.id for ref in refs])
    owners = _owner_jobs(session, job.id, existing.values())
    adoption = Adoption()
    missing = []
    for ref in refs:
        datum = existing.get(ref.id)
        if datum is None:
            missing.append(ref)
        elif datum.state == DatumState.DONE:
            if datum.job_id == job.id:
                adoption.processed += 1
            else:
                adoption.skipped += 1
        elif datum.state == DatumState.FAILED and (datum.job_id == job.id or datum.id in settled):
            adoption.failed += 1
            adoption.failures.append((ref.output_path, datum.error or "failed"))
        elif (
            datum.state == DatumState.FAILED
            or datum.job_id == job.id
            or not owner_is_live(owners[datum.job_id])
        ):
            _take_over(session, job, datum, ref, adoption)
        else:
            adoption.waiting += 1
    _insert_new(session, job, missing, adoption)
    session.commit()
    # Files with the same content share datums: run each one once.
    adoption.runnable = list({datum.id: datum for datum in adoption.runnable}.values())
    return adoption


def _owner_jobs(session: Session, job_id: str, datums: Iterable[Datum]) -> dict[str, Job]:
    ids = sorted(
        {
            d.job_id
            for d in datums
            if d.job_id != job_id and d.state in (DatumState.PENDING, DatumState.RUNNING)
        }
    )
    owners: dict[str, Job] = {}
    for chunk in in_chunks(ids):
        owners.update({j.id: j for j in session.scalars(select(Job).where(Job.id.in_(chunk)))})
    return owners


def _take_over(session: Session, job: Job, datum: Datum, ref: DatumRef, adoption: Adoption) -> None:
    if datum.job_id == job.id and datum.state == DatumState.PENDING:
        adoption.runnable.append(datum)
        return
    # Compare-and-set: only if nobody changed the datum since it was read. The rows are read
    # from this job's file: the one that made the datum (same bytes) may be gone.
    taken = updated_one(
        session,
        update(Datum)
        .where(Datum.id == datum.id, Datum.job_id == datum.job_id, Datum.state == datum.state)
        .values(
            job_id=job.id,
            path=ref.path,
            blob_sha256=ref.blob_sha256,
            state=DatumState.PENDING,
            tries=0 if datum.job_id != job.id else Datum.tries,
            error=None,
        ),
    )
    if taken:
        session.refresh(datum)
        adoption.runnable.append(datum)
    else:
        adoption.waiting += 1


def _insert_new(session: Session, job: Job, refs: Sequence[DatumRef], adoption: Adoption) -> None:
    if not refs:
        return
    rows = [
        {
            "id": ref.id,
            "job_id": job.id,
            "path": ref.path,
            "blob_sha256": ref.blob_sha256,
            "shard_start": ref.start,
            "shard_stop": ref.stop,
            "state": DatumState.PENDING,
            "tries": 0,
        }
        for ref in refs
    ]
    # Another job over the same content may insert the same datum at the same moment.
    for start in range(0, len(rows), IN_CHUNK):
        insert_ignoring_duplicates(session, Datum, rows[start : start + IN_CHUNK], ["id"])
    for datum in load_datums(session, [ref.id for ref in refs]).values():
        if datum.job_id == job.id:
            adoption.runnable.append(datum)
        else:
            adoption.waiting += 1


def mark_running(session: Session, job_id: str, datum_ids: Sequence[str]) -> None:
    """Mark the job's pending datums as submitted to the executor; commits."""
    for chunk in in_chunks(datum_ids):
        session.execute(
            update(Datum)
            .where(Datum.id.in_(chunk), Datum.job_id == job_id, Datum.state == DatumState.PENDING)
            .values(state=DatumState.RUNNING)
            .execution_options(synchronize_session=False)
        )
    session.commit()


def record_blob(session: Session, sha256: str, size: int) -> None:
    """The ``blobs`` row of a result an executor already stored."""
    insert_ignoring_duplicates(session, Blob, [{"sha256": sha256, "size": size}], ["sha256"])
