"""Pipeline routes: upload progress and answers, jobs, pipelines, repos, commits and diffs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO, Literal, cast

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from qaflow.api.deps import SessionDep, StateDep, TokenDep
from qaflow.db import JobState
from qaflow.errors import InvalidInputError
from qaflow.services import lineage_service, pipeline_service
from qaflow.services.pipeline_schemas import (
    CommitDetail,
    CommitPublic,
    DiffPublic,
    JobDetail,
    JobPublic,
    JobStateName,
    PipelinePublic,
    PipelineUpdate,
    PipelineUpdateResult,
    RepoPublic,
    UploadStatus,
)
from qaflow.services.pipeline_service import DEFAULT_ANSWERS_PAGE, MAX_ANSWERS_PAGE, MAX_OFFSET

router = APIRouter(tags=["pipeline"])

_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
_SPOOL_BYTES = 16 * 1024 * 1024
_STREAM_CHUNK_BYTES = 256 * 1024

TOTAL_COUNT_HEADER = "X-Total-Count"
MISSING_ROWS_HEADER = "X-Missing-Rows"

_LIMIT_HELP = (
    f"JSON only: most rows returned (default {DEFAULT_ANSWERS_PAGE}, at most {MAX_ANSWERS_PAGE})."
)

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.get("/uploads/{upload_id}", response_model=UploadStatus)
def get_upload_status(upload_id: str, session: SessionDep) -> UploadStatus:
    """How far the pipeline is with an upload: job state, progress, failed row shards."""
    return pipeline_service.upload_status(session=session, upload_id=upload_id)


@router.get("/uploads/{upload_id}/answers")
def get_upload_answers(
    upload_id: str,
    session: SessionDep,
    state: StateDep,
    format: Literal["csv", "json"] = "csv",
    limit: Annotated[int | None, Query(description=_LIMIT_HELP)] = None,
    offset: Annotated[int | None, Query(description="JSON only: rows skipped, in order.")] = None,
) -> StreamingResponse:
    """The upload's rows with their answers: CSV (its columns, then the answer's; every row)
    or JSON (an array of row objects, one page of them; the X-Total-Count header says how many
    rows there are in all). X-Missing-Rows counts the upload's rows that have no answer because
    their datums failed (0 when the upload was answered whole)."""
    page = _answers_page(format, limit, offset)
    results = pipeline_service.upload_results(session=session, upload_id=upload_id)
    headers = {
        "Content-Disposition": f'attachment; filename="{upload_id}-answers.{format}"',
        # Rows of failed row ranges have no answer: a client must not take the file as whole.
        MISSING_ROWS_HEADER: str(results.missing_rows),
    }
    # Spooled: the response streams from memory, or from disk for large uploads. It outlives
    # this function: the response's background task closes it.
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES))  # noqa: SIM115
    try:
        if page is None:
            pipeline_service.export_results(
                results=results, store=state.store, export_format=format, sink=spool
            )
        else:
            pipeline_service.export_json_page(
                results=results, store=state.store, sink=spool, limit=page[0], offset=page[1]
            )
            headers[TOTAL_COUNT_HEADER] = str(results.total_rows)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return StreamingResponse(
        _chunks(spool),
        media_type=_MEDIA_TYPES[format],
        headers=headers,
        background=BackgroundTask(spool.close),
    )


def _answers_page(format: str, limit: int | None, offset: int | None) -> tuple[int, int] | None:
    """(limit, offset) of a JSON page; None for the CSV download, which has every row."""
    if format != "json":
        if limit is not None or offset is not None:
            raise InvalidInputError(
                "limit and offset page the JSON answers (format=json); "
                "the CSV download always has every row."
            )
        return None
    page = (DEFAULT_ANSWERS_PAGE if limit is None else limit, offset or 0)
    pipeline_service.check_answers_page(*page)
    return page


@router.get("/jobs", response_model=list[JobPublic])
def get_jobs(
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
    state: JobStateName | None = None,
) -> list[JobPublic]:
    """Jobs, newest first."""
    return pipeline_service.list_jobs(
        session=session,
        limit=limit,
        offset=offset,
        state=None if state is None else JobState(state),
    )


@router.get("/jobs/{job_id}", response_model=JobDetail)
def get_job(job_id: str, session: SessionDep) -> JobDetail:
    """One job, with the datums that failed and why."""
    return pipeline_service.get_job(session=session, job_id=job_id)


@router.get("/pipelines/{name}", response_model=PipelinePublic)
def get_pipeline(name: str, session: SessionDep) -> PipelinePublic:
    """A pipeline's current spec and its versions."""
    return pipeline_service.get_pipeline(session=session, name=name)


@router.put("/pipelines/{name}", response_model=PipelineUpdateResult, dependencies=[TokenDep])
def put_pipeline(
    name: str, update: PipelineUpdate, session: SessionDep, state: StateDep
) -> PipelineUpdateResult:
    """Change a pipeline's spec. A new model makes a new version that answers new uploads;
    ``reprocess: true`` also reruns all earlier uploads with it."""
    return pipeline_service.update_pipeline(
        session=session, settings=state.settings, name=name, update=update
    )


@router.get("/repos", response_model=list[RepoPublic])
def get_repos(session: SessionDep) -> list[RepoPublic]:
    """The versioned repos: the uploads and each pipeline's output."""
    return lineage_service.list_repos(session=session)


@router.get("/repos/{name}/commits", response_model=list[CommitPublic])
def get_repo_commits(
    name: str,
    session: SessionDep,
    limit: Limit = 100,
    before_seq: Annotated[
        int | None, Query(ge=1, le=MAX_OFFSET, description="Page back from this seq.")
    ] = None,
) -> list[CommitPublic]:
    """A repo's commits, newest first."""
    return lineage_service.repo_commits(
        session=session, name=name, limit=limit, before_seq=before_seq
    )


@router.get("/commits/{commit_id}", response_model=CommitDetail)
def get_commit(commit_id: str, session: SessionDep) -> CommitDetail:
    """A commit (id or unique prefix), its changes and its provenance (input commit, job,
    pipeline version, model)."""
    return lineage_service.commit_detail(session=session, commit_id=commit_id)


@router.get("/diff", response_model=DiffPublic)
def get_diff(
    session: SessionDep,
    state: StateDep,
    from_commit: Annotated[
        str, Query(alias="from", description="The older output commit: id or unique prefix.")
    ],
    to_commit: Annotated[
        str, Query(alias="to", description="The newer output commit: id or unique prefix.")
    ],
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> DiffPublic:
    """Rows whose answer changed between two commits of a pipeline's output repo."""
    return lineage_service.diff_commits(
        session=session, store=state.store, from_id=from_commit, to_id=to_commit, limit=limit
    )


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_STREAM_CHUNK_BYTES):
        yield chunk
