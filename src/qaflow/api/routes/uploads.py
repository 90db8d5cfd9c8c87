"""Upload routes: POST /upload (a CSV of question/context pairs) and GET /uploads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile, status

from qaflow.api.deps import SessionDep, StateDep, TokenDep
from qaflow.db import UploadOrigin
from qaflow.errors import InvalidInputError
from qaflow.services import uploads
from qaflow.services.pipeline_service import MAX_OFFSET
from qaflow.services.upload_schemas import UploadWithStatus

router = APIRouter(tags=["uploads"])

NO_FILE_PART = "No file part: send the CSV as multipart field 'file'."


@router.post("/upload", dependencies=[TokenDep])
# The original system's write-up names the route /uploads too; both are accepted.
@router.post("/uploads", dependencies=[TokenDep], include_in_schema=False)
def upload(
    session: SessionDep,
    state: StateDep,
    # A list, so that a request with several 'file' parts is seen and refused instead of
    # quietly keeping the last one.
    file: Annotated[
        list[UploadFile] | None,
        File(
            description="One UTF-8 CSV whose header names 'question' and 'context' columns "
            "(one file per request)."
        ),
    ] = None,
) -> dict[str, Any]:
    """Store a CSV of question/context rows; the batch pipeline answers every row.

    The file is validated first: a bad one is refused with 400 and what is wrong, and nothing
    is stored.
    """
    # A plain def route: validation and storage block, so FastAPI runs this in its threadpool.
    if not file:
        raise InvalidInputError(NO_FILE_PART)
    if len(file) > 1:
        raise InvalidInputError(
            f"{len(file)} 'file' parts: send one CSV per request (nothing was stored)."
        )
    stored = uploads.create_upload(
        session=session,
        store=state.store,
        source=file[0].file,
        filename=file[0].filename,
        origin=UploadOrigin.API,
    )
    return {
        "status": "File Uploaded Successfully",
        "status code": status.HTTP_200_OK,
        "upload_id": stored.id,
        "commit_id": stored.commit_id,
        "sha256": stored.sha256,
        "rows": stored.rows,
        "filename": stored.filename,
    }


@router.get("/uploads", response_model=list[UploadWithStatus])
def list_uploads(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most uploads returned.")] = 100,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Uploads skipped, newest first.")
    ] = 0,
) -> list[UploadWithStatus]:
    """Stored uploads, newest first, each with its pipeline state (queued|running|done|failed),
    progress and counts, as ``GET /uploads/{upload_id}`` tells them for one."""
    return uploads.list_uploads_with_status(session=session, limit=limit, offset=offset)
