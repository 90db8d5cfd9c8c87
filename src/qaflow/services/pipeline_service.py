"""The batch pipeline as the faces see it: its spec, its jobs, each upload's progress, answers."""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.config import Settings
from qaflow.db import Datum, DatumState, Job, JobState, Pipeline, PipelineVersion, Upload
from qaflow.errors import InvalidInputError, ModelLoadError, NotFoundError
from qaflow.pipeline import jobs as pipeline_jobs
from qaflow.pipeline import spec as pipeline_spec
from qaflow.pipeline.csvio import CONTEXT_COLUMN, QUESTION_COLUMN, CsvLayout
from qaflow.pipeline.datums import parse_output_path
from qaflow.pipeline.inspect import iter_results, results_of
from qaflow.pipeline.results import ResultRow, write_results_csv, write_results_parquet
from qaflow.pipeline.spec import (
    QUESTION_ANSWER,
    PipelineSpec,
    model_fields_of,
    pinned,
    pinned_model_fields,
    spec_of,
)
from qaflow.services import registry
from qaflow.services.pipeline_schemas import (
    DatumPublic,
    JobDetail,
    JobPublic,
    PipelinePublic,
    PipelineUpdate,
    PipelineUpdateResult,
    PipelineVersionPublic,
    UploadStatus,
)
from qaflow.services.upload_progress import share, upload_statuses
from qaflow.storage import ObjectStore
from qaflow.versioning import get_repo

logger = logging.getLogger(__name__)

ExportFormat = Literal["csv", "json", "parquet"]
DEFAULT_ANSWERS_PAGE = 1000
MAX_ANSWERS_PAGE = 10_000
# Past any table qaflow keeps and inside SQL's 64-bit integers, so a huge offset or seq is a
# 400, not an overflow deep in the database driver.
MAX_OFFSET = 10**12
_LISTED_DATUM_ERRORS = 100


def default_spec(*, session: Session, settings: Settings) -> PipelineSpec:
    """The spec of a new ``question_answer`` pipeline: the default model (its weights' revision
    pinned when they can be read) and settings."""
    model = registry.resolve_model(session=session, settings=settings, name=None)
    spec = PipelineSpec.model_validate(
        {
            **model_fields_of(model),
            "shard_rows": settings.shard_rows,
            "datum_tries": settings.datum_tries,
            "scan_interval_s": settings.scan_interval_s,
        }
    )
    try:
        return pinned(spec)
    except ModelLoadError as exc:
        # The pipeline can exist before its model can be read; the worker pins it later.
        logger.warning("pipeline %s: weights not pinned yet: %s", spec.name, exc)
        return spec


def ensure_question_answer(*, session: Session, settings: Settings) -> PipelineSpec:
    """Create the ``question_answer`` pipeline on first use; returns its current spec."""
    try:
        return spec_of(pipeline_spec.current_version(session=session, name=QUESTION_ANSWER))
    except NotFoundError:
        pass  # first use
    version = pipeline_spec.ensure_pipeline(
        session=session, spec=default_spec(session=session, settings=settings)
    )
    return spec_of(version)


def get_pipeline(*, session: Session, name: str) -> PipelinePublic:
    current = pipeline_spec.current_version(session=session, name=name)
    versions = pipeline_spec.list_versions(session=session, name=name)
    spec = spec_of(current)
    return PipelinePublic(
        name=name,
        version=current.version,
        spec_hash=current.spec_hash,
        spec=spec.model_dump(),
        versions=[_version_public(version) for version in versions],
    )


def update_pipeline(
    *, session: Session, settings: Settings, name: str, update: PipelineUpdate
) -> PipelineUpdateResult:
    """Change the spec; a new model or reading parameter makes a new version.

    With ``reprocess``, also queue a job rerunning all existing input with the current version.
    A new model's weights are read to pin their revision (ModelLoadError if they cannot be).
    """
    changes = update.model_dump(exclude_none=True, exclude={"model", "reprocess"})
    if update.reprocess:
        # Checked before the spec changes, so a refused reprocess stores nothing.
        current = pipeline_spec.spec_of(pipeline_spec.current_version(session=session, name=name))
        pipeline_jobs.input_head(session=session, spec=current)
    if update.model is not None:
        model = registry.resolve_model(session=session, settings=settings, name=update.model)
        changes.update(pinned_model_fields(model))
    version, created = pipeline_spec.update_pipeline(session=session, name=name, changes=changes)
    job_id = job_state = None
    if update.reprocess:
        job = pipeline_jobs.reprocess(session=session, name=name)
        job_id, job_state = job.id, job.state.value
        # Reprocess first follows weights changed at the model reference into a new version.
        created = created or job.pipeline_version_id != version.id
    return PipelineUpdateResult(
        pipeline=get_pipeline(session=session, name=name),
        new_version=created,
        reprocess_job_id=job_id,
        reprocess_state=job_state,
    )


def list_jobs(
    *,
    session: Session,
    limit: int = 100,
    offset: int = 0,
    state: JobState | None = None,
    input_commit_id: str | None = None,
) -> list[JobPublic]:
    """Jobs, newest first."""
    query = select(Job)
    if state is not None:
        query = query.where(Job.state == state)
    if input_commit_id is not None:
        query = query.where(Job.input_commit_id == input_commit_id)
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
    found = list(session.scalars(query))
    names = _version_names(session, {job.pipeline_version_id for job in found})
    return [_job_public(job, names[job.pipeline_version_id]) for job in found]


def get_job(*, session: Session, job_id: str) -> JobDetail:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"Job '{job_id}' not found.")
    public = _job_public(
        job, _version_names(session, {job.pipeline_version_id})[job.pipeline_version_id]
    )
    failed = session.scalars(
        select(Datum)
        .where(Datum.job_id == job.id, Datum.state == DatumState.FAILED)
        .order_by(Datum.path, Datum.shard_start)
        .limit(_LISTED_DATUM_ERRORS)
    )
    return JobDetail(**public.model_dump(), failed_datums=[_datum_public(d) for d in failed])


def upload_status(
    *, session: Session, upload_id: str, pipeline: str = QUESTION_ANSWER
) -> UploadStatus:
    """The state of the newest job over the upload's commit, and its datums' progress."""
    upload = _get_upload(session, upload_id)
    return upload_statuses(session=session, uploads=[upload], pipeline=pipeline)[0]


@dataclass(frozen=True)
class UploadResults:
    """Where an upload's newest results are: its original columns and the results blobs.

    ``blob_rows``: the rows in each blob (one per data row of its row range), in row order.
    """

    upload_id: str
    layout: CsvLayout
    blobs: list[str]
    blob_rows: list[int]
    upload_rows: int  # the upload's data rows: more than total_rows when row ranges failed

    @property
    def total_rows(self) -> int:
        return sum(self.blob_rows)

    @property
    def missing_rows(self) -> int:
        """Rows without an answer: those of row ranges whose datums failed."""
        return max(self.upload_rows - self.total_rows, 0)


def upload_results(
    *, session: Session, upload_id: str, pipeline: str = QUESTION_ANSWER
) -> UploadResults:
    """The newest results of an upload (the output repo's HEAD); NotFoundError before any."""
    upload = _get_upload(session, upload_id)
    try:
        repo = get_repo(session=session, name=pipeline)
    except NotFoundError:
        repo = None
    files = (
        [] if repo is None else results_of(session=session, repo_id=repo.id, input_path=upload.path)
    )
    if not files:
        state = upload_status(session=session, upload_id=upload_id, pipeline=pipeline).state
        raise NotFoundError(f"Upload '{upload_id}' has no answers yet (its job is {state}).")
    ranges = [parse_output_path(f.path) for f in files]
    return UploadResults(
        upload.id,
        _layout(json.loads(upload.columns_json)),
        [f.blob_sha256 for f in files],
        [stop - start for _, start, stop in ranges],
        upload.rows,
    )


def export_results(
    *, results: UploadResults, store: ObjectStore, export_format: ExportFormat, sink: BinaryIO
) -> int:
    """Write the results to ``sink`` as CSV (the upload's columns, then the answer's),
    JSON (an array of row objects) or Parquet; returns the rows written."""
    rows = iter_results(store=store, blobs=results.blobs)
    if export_format == "parquet":
        return write_results_parquet(rows, sink)
    if export_format == "json":
        return _write_json(rows, sink)
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    try:
        return write_results_csv(rows, text, layout=results.layout)
    finally:
        text.detach()


def check_answers_page(limit: int, offset: int) -> None:
    """InvalidInputError unless ``limit`` and ``offset`` make a page of the JSON answers."""
    if not 1 <= limit <= MAX_ANSWERS_PAGE:
        raise InvalidInputError(
            f"limit must be between 1 and {MAX_ANSWERS_PAGE} rows (got {limit}): page through "
            "the answers with offset, or download format=csv for every row at once."
        )
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInputError(f"offset must be between 0 and {MAX_OFFSET} (got {offset}).")


def export_json_page(
    *,
    results: UploadResults,
    store: ObjectStore,
    sink: BinaryIO,
    limit: int = DEFAULT_ANSWERS_PAGE,
    offset: int = 0,
) -> int:
    """Write rows ``offset`` to ``offset + limit`` (in row order) of the results to ``sink`` as
    a JSON array; returns the rows written. Only the blobs holding those rows are read."""
    check_answers_page(limit, offset)
    first = 0
    before = 0  # rows in the blobs skipped
    while first < len(results.blobs) and before + results.blob_rows[first] <= offset:
        before += results.blob_rows[first]
        first += 1
    rows = iter_results(store=store, blobs=results.blobs[first:])
    start = offset - before
    return _write_json(itertools.islice(rows, start, start + limit), sink)


def _write_json(rows: Iterable[ResultRow], sink: BinaryIO) -> int:
    count = 0
    sink.write(b"[")
    for row in rows:
        item = {
            "row_index": row.row_index,
            "question": row.question,
            "context": row.context,
            "answer": row.answer,
            "score": row.score,
            "start": row.start,
            "end": row.end,
            "error": row.error,
            "extra": dict(row.passthrough),
        }
        sink.write((b",\n" if count else b"\n") + json.dumps(item, ensure_ascii=False).encode())
        count += 1
    sink.write(b"\n]\n")
    return count


def _layout(columns: list[str]) -> CsvLayout:
    def named(wanted: str) -> str:
        return next(name for name in columns if name.strip().casefold() == wanted)

    return CsvLayout(tuple(columns), named(QUESTION_COLUMN), named(CONTEXT_COLUMN))


def _get_upload(session: Session, upload_id: str) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFoundError(f"Upload '{upload_id}' not found.")
    return upload


def _version_names(session: Session, version_ids: set[int]) -> dict[int, tuple[str, int]]:
    if not version_ids:
        return {}
    query = (
        select(PipelineVersion.id, Pipeline.name, PipelineVersion.version)
        .join(Pipeline, Pipeline.id == PipelineVersion.pipeline_id)
        .where(PipelineVersion.id.in_(sorted(version_ids)))
    )
    return {vid: (name, number) for vid, name, number in session.execute(query)}


def _job_public(job: Job, version: tuple[str, int]) -> JobPublic:
    settled = job.processed + job.skipped + job.failed
    return JobPublic(
        id=job.id,
        pipeline=version[0],
        pipeline_version=version[1],
        input_commit_id=job.input_commit_id,
        scope=job.scope.value,
        state=job.state.value,
        total=job.total,
        processed=job.processed,
        skipped=job.skipped,
        failed=job.failed,
        progress=1.0 if job.state == JobState.DONE else share(settled, job.total),
        output_commit_id=job.output_commit_id,
        error=job.error,
        worker_id=job.worker_id,
        heartbeat_at=job.heartbeat_at,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _datum_public(datum: Datum) -> DatumPublic:
    return DatumPublic(
        id=datum.id,
        path=datum.path,
        rows=f"{datum.shard_start}-{datum.shard_stop}",
        state=datum.state.value,
        tries=datum.tries,
        error=datum.error,
        error_rows=datum.error_rows,
    )


def _version_public(version: PipelineVersion) -> PipelineVersionPublic:
    spec = spec_of(version)
    return PipelineVersionPublic(
        version=version.version,
        spec_hash=version.spec_hash,
        model=spec.model,
        model_ref=spec.model_ref,
        created_at=version.created_at,
    )
