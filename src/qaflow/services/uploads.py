"""Uploads: validated CSVs committed to the ``uploads`` repo, from any face or the bucket.

A file is streamed once through validation into a local temp file (bounded memory, any size),
and only a file that passes is stored: blob, commit and upload row in one transaction.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import CommitOrigin, RepoKind, Upload, UploadOrigin
from qaflow.db.failures import database_errors
from qaflow.errors import InvalidInputError, NotFoundError, QaflowError
from qaflow.pipeline.csvio import CsvSummary, validate_csv_stream
from qaflow.pipeline.row_index import store_row_index
from qaflow.pipeline.spec import QUESTION_ANSWER
from qaflow.services.upload_progress import upload_statuses
from qaflow.services.upload_schemas import ScanReport, UploadPublic, UploadWithStatus
from qaflow.storage import ObjectStore
from qaflow.storage.keys import TEMP_NAME_PREFIX
from qaflow.versioning import create_commit, ensure_repo, store_blob_from_file

UPLOADS_REPO = "uploads"
INCOMING_PREFIX = "incoming/"
REJECTED_PREFIX = "rejected/"
ERROR_SUFFIX = ".error.txt"
DEFAULT_FILENAME = "upload.csv"
MAX_FILENAME_CHARS = 255
_COMMIT_ORIGINS = {
    UploadOrigin.API: CommitOrigin.UPLOAD,
    UploadOrigin.CLI: CommitOrigin.UPLOAD,
    UploadOrigin.BUCKET_SCAN: CommitOrigin.BUCKET_SCAN,
}
_log = logging.getLogger(__name__)


def create_upload(
    *,
    session: Session,
    store: ObjectStore,
    source: BinaryIO,
    filename: str | None,
    origin: UploadOrigin,
    source_key: str | None = None,
) -> UploadPublic:
    """Validate ``source`` as a question/context CSV and commit it as a new upload.

    Raises InvalidInputError (csvio's message) for a bad file; nothing is stored then.
    ``source_key`` is the incoming object a bucket scan read it from.
    """
    with _temp_dir() as directory:
        staged, summary = _stage(source, directory)
        return _commit_staged(session, store, staged, summary, filename, origin, source_key)


def get_upload(*, session: Session, upload_id: str) -> UploadPublic:
    """One upload; NotFoundError when there is none."""
    record = session.get(Upload, upload_id)
    if record is None:
        raise NotFoundError(f"Upload '{upload_id}' not found.")
    return upload_public(record)


def list_uploads(*, session: Session, limit: int = 100, offset: int = 0) -> list[UploadPublic]:
    """Uploads, newest first."""
    return [upload_public(record) for record in _newest_uploads(session, limit, offset)]


def list_uploads_with_status(
    *, session: Session, limit: int = 100, offset: int = 0, pipeline: str = QUESTION_ANSWER
) -> list[UploadWithStatus]:
    """Uploads, newest first, each with how far ``pipeline`` is with it.

    The statuses of the whole page are read together: the queries do not grow with ``limit``.
    """
    records = _newest_uploads(session, limit, offset)
    statuses = upload_statuses(session=session, uploads=records, pipeline=pipeline)
    return [
        UploadWithStatus.model_validate({**status.model_dump(), **upload_public(rec).model_dump()})
        for rec, status in zip(records, statuses, strict=True)
    ]


def _newest_uploads(session: Session, limit: int, offset: int) -> list[Upload]:
    query = (
        select(Upload)
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def upload_public(record: Upload) -> UploadPublic:
    return UploadPublic(
        id=record.id,
        filename=record.filename,
        path=record.path,
        sha256=record.sha256,
        size_bytes=record.size_bytes,
        rows=record.rows,
        empty_rows=record.empty_rows,
        columns=json.loads(record.columns_json),
        commit_id=record.commit_id,
        origin=record.origin.value,
        created_at=record.created_at,
    )


def clean_filename(filename: str | None) -> str:
    """The last segment of a client's file name, safe as a repo path segment."""
    name = (filename or "").replace("\\", "/").rpartition("/")[2]
    name = "".join(char for char in name if char.isprintable()).strip()
    if name in ("", ".", "..") or name.startswith(TEMP_NAME_PREFIX):
        return DEFAULT_FILENAME
    return name[-MAX_FILENAME_CHARS:]


def repo_file_name(name: str) -> str:
    """The upload's name in the repo: always ``.csv`` (lower case) at the end.

    The pipeline selects its input files by a case-sensitive ``**/*.csv`` glob, and every
    upload has been checked to be a CSV, so ``Data.CSV`` or ``notes.txt`` must still be read.
    """
    stem = name[:-4] if name.lower().endswith(".csv") else name
    return stem[: MAX_FILENAME_CHARS - 4] + ".csv"


def scan_incoming(*, session_factory: sessionmaker[Session], store: ObjectStore) -> ScanReport:
    """Commit every valid file under ``incoming/`` as an upload, then delete it.

    A file is deleted only after its upload is committed; a bad one is moved to ``rejected/``
    next to a ``.error.txt`` saying why. Files are independent: one failing does not stop
    the others. Safe to rerun after a crash, and beside another scan.
    """
    report = ScanReport()
    store.check()  # a missing bucket would otherwise look like one with nothing waiting
    for info in list(store.list(INCOMING_PREFIX)):
        _scan_one(session_factory, store, info.key, report)
    return report


@contextmanager
def _temp_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="qaflow-upload-") as directory:
        yield Path(directory)


def _stage(source: BinaryIO, directory: Path) -> tuple[Path, CsvSummary]:
    """Validate ``source`` while copying it to a local file (InvalidInputError if bad)."""
    staged = directory / "upload.csv"
    with staged.open("wb") as sink:
        summary = validate_csv_stream(source, sink)
    return staged, summary


def _commit_staged(
    session: Session,
    store: ObjectStore,
    staged: Path,
    summary: CsvSummary,
    filename: str | None,
    origin: UploadOrigin,
    source_key: str | None,
) -> UploadPublic:
    name = clean_filename(filename)
    engine = session.get_bind().engine
    with database_errors(engine, "storing the upload"):
        try:
            store_blob_from_file(
                session=session,
                store=store,
                path=staged,
                sha256=summary.sha256,
                size=summary.size_bytes,
            )
            record = _record_upload(session, summary, name, origin, source_key)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    _store_row_index(store, summary)
    return upload_public(record)


def _store_row_index(store: ObjectStore, summary: CsvSummary) -> None:
    """Store the blob's row index; only an optimisation, so a failure is logged, not raised."""
    try:
        store_row_index(store, summary.sha256, summary.row_index)
    except (QaflowError, OSError) as exc:
        _log.warning(
            "upload of %s committed without its row index (shard reads will parse it from the "
            "start): %s",
            summary.sha256,
            exc,
        )


def _record_upload(
    session: Session,
    summary: CsvSummary,
    name: str,
    origin: UploadOrigin,
    source_key: str | None,
) -> Upload:
    repo = ensure_repo(
        session=session,
        name=UPLOADS_REPO,
        kind=RepoKind.INPUT,
        description="Question/context CSV files, one folder per upload.",
    )
    upload_id = uuid.uuid4().hex
    path = f"{upload_id}/{repo_file_name(name)}"
    commit = create_commit(
        session=session,
        repo=repo,
        puts={path: summary.sha256},
        origin=_COMMIT_ORIGINS[origin],
        message=f"{origin.value} upload of {name}",
    )
    record = Upload(
        id=upload_id,
        filename=name,
        path=path,
        sha256=summary.sha256,
        size_bytes=summary.size_bytes,
        rows=summary.rows,
        empty_rows=summary.empty_rows,
        columns_json=json.dumps(summary.columns),
        origin=origin,
        commit_id=commit.id,
        source_key=source_key,
    )
    session.add(record)
    session.flush()
    return record


class _RejectedFileError(Exception):
    """An incoming file failed validation; ``reason`` is csvio's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _scan_one(
    session_factory: sessionmaker[Session], store: ObjectStore, key: str, report: ScanReport
) -> None:
    try:
        upload, created = _ingest_incoming(session_factory, store, key)
    except _RejectedFileError as exc:
        _reject(store, key, exc.reason, report)
        return
    except NotFoundError:
        return  # another scan took the file meanwhile
    except QaflowError as exc:
        # Left in place: the next scan tries again.
        report.failed.append((key, exc.message))
        return
    except OSError as exc:  # staging the copy locally failed (e.g. the temp disk is full)
        report.failed.append((key, f"cannot stage a local copy: {exc}"))
        return
    (report.committed if created else report.already_committed).append(upload)
    try:
        store.delete(key)
    except NotFoundError:
        pass
    except QaflowError as exc:
        report.failed.append((key, f"committed as upload {upload.id}, not deleted: {exc}"))


def _ingest_incoming(
    session_factory: sessionmaker[Session], store: ObjectStore, key: str
) -> tuple[UploadPublic, bool]:
    """The upload of an incoming file and whether this call created it."""
    with session_factory() as session, store.open_read(key) as source, _temp_dir() as directory:
        try:
            path, summary = _stage(source, directory)
        except InvalidInputError as exc:
            raise _RejectedFileError(exc.message) from exc
        with database_errors(session.get_bind().engine, f"committing {key}"):
            return _commit_once(session, store, key, path, summary)


def _commit_once(
    session: Session, store: ObjectStore, key: str, path: Path, summary: CsvSummary
) -> tuple[UploadPublic, bool]:
    existing = _scanned_upload(session, key, summary.sha256)
    if existing is not None:
        return existing, False
    filename = key.rpartition("/")[2]
    try:
        upload = _commit_staged(
            session, store, path, summary, filename, UploadOrigin.BUCKET_SCAN, key
        )
    except InvalidInputError as exc:
        # A concurrent scan committed this file first (unique source_key + sha256).
        existing = _scanned_upload(session, key, summary.sha256)
        if existing is None or not isinstance(exc.__cause__, sa_exc.IntegrityError):
            raise
        return existing, False
    return upload, True


def _scanned_upload(session: Session, key: str, sha256: str) -> UploadPublic | None:
    query = select(Upload).where(
        Upload.source_key == key,
        Upload.sha256 == sha256,
        Upload.origin == UploadOrigin.BUCKET_SCAN,
    )
    record = session.scalars(query).one_or_none()
    return None if record is None else upload_public(record)


def _reject(store: ObjectStore, key: str, reason: str, report: ScanReport) -> None:
    target = REJECTED_PREFIX + key.removeprefix(INCOMING_PREFIX)
    try:
        target = _free_rejected_key(store, target)
        with store.open_read(key) as source:
            store.put_file(target, source)
        store.put_bytes(target + ERROR_SUFFIX, f"{key}: {reason}\n".encode())
        store.delete(key)
    except NotFoundError:
        return  # another scan moved it meanwhile
    except QaflowError as exc:
        report.failed.append((key, f"invalid ({reason}) but not moved to {target}: {exc}"))
        return
    report.rejected.append((key, reason))


def _free_rejected_key(store: ObjectStore, wanted: str) -> str:
    """``wanted``, or ``<stem>-<n><suffix>`` when an earlier rejected file has that name."""
    directory, _, name = wanted.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not stem:
        stem, dot, suffix = name, "", ""
    candidate = wanted
    number = 0
    while store.exists(candidate) or store.exists(candidate + ERROR_SUFFIX):
        number += 1
        candidate = f"{directory}/{stem}-{number}{dot}{suffix}"
    return candidate
