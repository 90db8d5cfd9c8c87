"""The uploads service on real databases (SQLite, PostgreSQL) and stores (local, SeaweedFS S3)."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import (
    Blob,
    Commit,
    CommitOrigin,
    Upload,
    UploadOrigin,
    create_db_engine,
    create_session_factory,
)
from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.pipeline.csvio import validate_csv_stream
from qaflow.pipeline.row_index import load_row_index
from qaflow.services.upload_schemas import UploadPublic
from qaflow.services.uploads import (
    clean_filename,
    create_upload,
    get_upload,
    list_uploads,
    repo_file_name,
    scan_incoming,
)
from qaflow.storage import ObjectInfo, ObjectStore, open_store_url
from qaflow.versioning import (
    BLOB_PREFIX,
    blob_key,
    commit_changes,
    find_commit,
    get_repo,
    head_files,
)
from qaflow.versioning.blobs import ROW_INDEX_PREFIX, row_index_key
from tests.support.threads import run_threads
from tests.versioning.samples import BAD_FILES, GOOD_CSV, GOOD_EMPTY_ROWS, GOOD_ROWS

GOOD_SHA = hashlib.sha256(GOOD_CSV).hexdigest()


def row_counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Upload, Commit, Blob)
    }


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list(prefix)]


def upload_bytes(
    session: Session,
    store: ObjectStore,
    data: bytes,
    filename: str | None = "questions.csv",
    origin: UploadOrigin = UploadOrigin.API,
) -> UploadPublic:
    return create_upload(
        session=session, store=store, source=io.BytesIO(data), filename=filename, origin=origin
    )


def test_create_upload_stores_the_blob_commits_it_and_records_the_upload(
    session: Session, store: ObjectStore
) -> None:
    upload = create_upload(
        session=session,
        store=store,
        source=io.BytesIO(GOOD_CSV),
        filename="questions.csv",
        origin=UploadOrigin.API,
    )

    assert (upload.filename, upload.path) == ("questions.csv", f"{upload.id}/questions.csv")
    assert (upload.sha256, upload.size_bytes) == (GOOD_SHA, len(GOOD_CSV))
    assert (upload.rows, upload.empty_rows) == (GOOD_ROWS, GOOD_EMPTY_ROWS)
    assert upload.columns == ["question", "context", "ref"]
    assert upload.origin == "api"
    assert store.get_bytes(blob_key(GOOD_SHA)) == GOOD_CSV
    assert keys(store) == [blob_key(GOOD_SHA), row_index_key(GOOD_SHA)]
    assert load_row_index(store, GOOD_SHA) == validate_csv_stream(io.BytesIO(GOOD_CSV)).row_index

    session.expire_all()  # read back what was committed, not the session's objects
    commit = find_commit(session=session, ref=upload.commit_id)
    assert (commit.seq, commit.parent_id, commit.origin) == (1, None, CommitOrigin.UPLOAD)
    changes = commit_changes(session=session, commit=commit)
    assert [(c.path, c.blob_sha256, c.size) for c in changes] == [
        (upload.path, GOOD_SHA, len(GOOD_CSV))
    ]
    repo = get_repo(session=session, name="uploads")
    assert [f.path for f in head_files(session=session, repo=repo)] == [upload.path]
    assert get_upload(session=session, upload_id=upload.id) == upload
    assert row_counts(session) == {"uploads": 1, "commits": 1, "blobs": 1}


def test_the_same_file_twice_is_two_uploads_over_one_blob(
    session: Session, store: ObjectStore
) -> None:
    first = upload_bytes(session, store, GOOD_CSV)
    second = upload_bytes(session, store, GOOD_CSV, origin=UploadOrigin.CLI)

    assert first != second
    assert row_counts(session) == {"uploads": 2, "commits": 2, "blobs": 1}
    assert keys(store) == [blob_key(GOOD_SHA), row_index_key(GOOD_SHA)]
    repo = get_repo(session=session, name="uploads")
    assert len(head_files(session=session, repo=repo)) == 2


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_csv_is_refused_with_csvio_message_and_nothing_is_stored(
    session: Session, store: ObjectStore, case: str
) -> None:
    data, message = BAD_FILES[case]

    with pytest.raises(InvalidInputError) as caught:
        upload_bytes(session, store, data)

    assert message in caught.value.message
    assert row_counts(session) == {"uploads": 0, "commits": 0, "blobs": 0}
    assert keys(store, BLOB_PREFIX) == []
    assert keys(store, ROW_INDEX_PREFIX) == []
    assert list_uploads(session=session) == []


def test_a_bad_csv_after_good_ones_leaves_them_alone(
    session: Session, local_store: ObjectStore
) -> None:
    good = upload_bytes(session, local_store, GOOD_CSV)
    with pytest.raises(InvalidInputError):
        upload_bytes(session, local_store, BAD_FILES["ragged"][0])

    assert [u.id for u in list_uploads(session=session)] == [good.id]
    assert row_counts(session) == {"uploads": 1, "commits": 1, "blobs": 1}


def test_an_upload_whose_row_index_cannot_be_written_is_still_committed(
    session: Session, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "storage"
    root.mkdir()
    (root / "derived").write_bytes(b"")  # a file where the index's directory would go
    store = open_store_url(str(root))

    with caplog.at_level(logging.WARNING):
        upload = upload_bytes(session, store, GOOD_CSV)

    assert "committed without its row index" in caplog.text
    assert store.get_bytes(blob_key(GOOD_SHA)) == GOOD_CSV
    assert load_row_index(store, GOOD_SHA) is None
    session.expire_all()
    assert get_upload(session=session, upload_id=upload.id) == upload
    assert row_counts(session) == {"uploads": 1, "commits": 1, "blobs": 1}


def test_an_existing_row_index_is_kept(session: Session, local_store: ObjectStore) -> None:
    other = validate_csv_stream(io.BytesIO(GOOD_CSV), row_index_every=1).row_index
    local_store.put_bytes(row_index_key(GOOD_SHA), other.to_json())

    upload_bytes(session, local_store, GOOD_CSV)

    assert local_store.get_bytes(row_index_key(GOOD_SHA)) == other.to_json()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("questions.csv", "questions.csv"),
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\ada\\q.csv", "q.csv"),
        ("tab\tname.csv", "tabname.csv"),
        ("..", "upload.csv"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        (".qaflow-tmp-x.csv", "upload.csv"),
    ],
)
def test_client_file_names_become_one_safe_path_segment(given: str | None, kept: str) -> None:
    assert clean_filename(given) == kept


@pytest.mark.parametrize(
    ("name", "in_repo"),
    [
        ("questions.csv", "questions.csv"),
        ("Data.CSV", "Data.csv"),
        ("notes.txt", "notes.txt.csv"),
        ("x" * 300 + ".csv", "x" * 251 + ".csv"),
    ],
)
def test_an_uploads_repo_file_name_ends_in_csv(name: str, in_repo: str) -> None:
    assert repo_file_name(name) == in_repo


def test_an_unsafe_file_name_is_stored_under_its_safe_form(
    session: Session, local_store: ObjectStore
) -> None:
    upload = create_upload(
        session=session,
        store=local_store,
        source=io.BytesIO(GOOD_CSV),
        filename="../../secret/q.csv",
        origin=UploadOrigin.CLI,
    )
    assert upload.path == f"{upload.id}/q.csv"


class ReadRecorder(io.RawIOBase):
    """A source that notes every read size and how many bytes it handed out in total."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner
        self.requested: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.requested.append(size)
        return self._inner.read(size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def big_csv(path: Path, target_bytes: int) -> None:
    row = b"What is in this row?," + b"x" * 200 + b"\n"
    with path.open("wb") as sink:
        sink.write(b"question,context\n")
        for _ in range(target_bytes // len(row) + 1):
            sink.write(row)


def test_a_20_mb_upload_is_streamed_not_read_whole(
    session: Session, local_store: ObjectStore, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    big_csv(path, 20 * 1024 * 1024)
    size = path.stat().st_size

    with path.open("rb") as raw:
        recorder = ReadRecorder(raw)
        upload = create_upload(
            session=session,
            store=local_store,
            source=recorder,  # type: ignore[arg-type]
            filename="big.csv",
            origin=UploadOrigin.CLI,
        )

    assert upload.size_bytes == size
    assert local_store.size(blob_key(upload.sha256)) == size
    # Every read asked for a bounded chunk: the whole file was never requested at once.
    assert all(0 < requested <= 1024 * 1024 for requested in recorder.requested)
    assert len(recorder.requested) >= size // (1024 * 1024)


def test_list_uploads_pages_newest_first_and_get_upload_knows_missing_ids(
    session: Session, local_store: ObjectStore
) -> None:
    made = [upload_bytes(session, local_store, GOOD_CSV + f"q{n},c,r\n".encode()) for n in range(3)]
    ids = [u.id for u in made]

    assert [u.id for u in list_uploads(session=session)] == ids[::-1]
    assert [u.id for u in list_uploads(session=session, limit=1, offset=1)] == [ids[1]]
    with pytest.raises(NotFoundError, match="nope"):
        get_upload(session=session, upload_id="nope")


# --- scanning the bucket's incoming/ prefix -------------------------------------------------


class DeleteWitness(ObjectStore):
    """A real store whose deletes first record whether the DB already holds the upload."""

    def __init__(self, inner: ObjectStore, committed: Callable[[str], bool]) -> None:
        self._inner = inner
        self._committed = committed
        self.url = inner.url
        self.deleted: dict[str, bool] = {}

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._inner.open_read(key)

    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._inner.open_write(key)

    def get_bytes(self, key: str) -> bytes:
        return self._inner.get_bytes(key)

    def exists(self, key: str) -> bool:
        return self._inner.exists(key)

    def delete(self, key: str) -> None:
        self.deleted[key] = self._committed(key)
        self._inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._inner.list(prefix)

    def size(self, key: str) -> int:
        return self._inner.size(key)

    def check(self) -> None:
        self._inner.check()


def test_scan_commits_good_files_and_deletes_each_only_after_its_commit(
    session_factory: sessionmaker[Session], store: ObjectStore
) -> None:
    store.put_bytes("incoming/a.csv", GOOD_CSV)
    store.put_bytes("incoming/team/b.csv", GOOD_CSV + b"One more?,Yes.,a4\n")

    def committed(key: str) -> bool:
        with session_factory() as fresh:  # another connection: sees only committed rows
            query = select(Upload).where(Upload.source_key == key)
            return fresh.scalars(query).first() is not None

    witness = DeleteWitness(store, committed)
    report = scan_incoming(session_factory=session_factory, store=witness)

    assert sorted(u.filename for u in report.committed) == ["a.csv", "b.csv"]
    assert (report.rejected, report.already_committed, report.failed) == ([], [], [])
    assert witness.deleted == {"incoming/a.csv": True, "incoming/team/b.csv": True}
    assert keys(store, "incoming/") == []
    with session_factory() as session:
        uploads = list_uploads(session=session)
        assert {u.origin for u in uploads} == {"bucket_scan"}
        assert {u.rows for u in uploads} == {GOOD_ROWS, GOOD_ROWS + 1}
        commit = find_commit(session=session, ref=uploads[0].commit_id)
        assert commit.origin == CommitOrigin.BUCKET_SCAN
        for upload in uploads:
            assert store.exists(blob_key(upload.sha256))
            assert store.exists(row_index_key(upload.sha256))


def test_scan_moves_bad_files_to_rejected_with_the_reason(
    session_factory: sessionmaker[Session], store: ObjectStore
) -> None:
    ragged, ragged_message = BAD_FILES["ragged"]
    store.put_bytes("incoming/good.csv", GOOD_CSV)
    store.put_bytes("incoming/team/ragged.csv", ragged)
    store.put_bytes("incoming/empty.csv", b"")

    report = scan_incoming(session_factory=session_factory, store=store)

    assert [u.filename for u in report.committed] == ["good.csv"]
    assert dict(report.rejected) == {
        "incoming/team/ragged.csv": "Line 3: expected 2 fields, found 3.",
        "incoming/empty.csv": "The file is empty.",
    }
    assert keys(store, "incoming/") == []
    assert store.get_bytes("rejected/team/ragged.csv") == ragged
    assert ragged_message in store.get_bytes("rejected/team/ragged.csv.error.txt").decode()
    assert store.get_bytes("rejected/empty.csv") == b""
    assert "The file is empty." in store.get_bytes("rejected/empty.csv.error.txt").decode()
    with session_factory() as session:
        assert row_counts(session) == {"uploads": 1, "commits": 1, "blobs": 1}


def test_a_second_bad_file_of_the_same_name_does_not_replace_the_first(
    session_factory: sessionmaker[Session], local_store: ObjectStore
) -> None:
    for content in (b"", b"question,context\n"):
        local_store.put_bytes("incoming/q.csv", content)
        scan_incoming(session_factory=session_factory, store=local_store)

    assert local_store.get_bytes("rejected/q.csv") == b""
    assert local_store.get_bytes("rejected/q-1.csv") == b"question,context\n"
    assert "no data rows" in local_store.get_bytes("rejected/q-1.csv.error.txt").decode()


def test_a_rescan_after_a_crash_between_commit_and_delete_makes_no_second_upload(
    session_factory: sessionmaker[Session], store: ObjectStore
) -> None:
    key = "incoming/crashed.csv"
    store.put_bytes(key, GOOD_CSV)
    # What a scan does before it deletes the object: the crash comes right after this.
    with session_factory() as session, store.open_read(key) as source:
        first = create_upload(
            session=session,
            store=store,
            source=source,
            filename="crashed.csv",
            origin=UploadOrigin.BUCKET_SCAN,
            source_key=key,
        )

    report = scan_incoming(session_factory=session_factory, store=store)

    assert report.committed == []
    assert report.already_committed == [first]
    assert keys(store, "incoming/") == []
    with session_factory() as session:
        assert row_counts(session) == {"uploads": 1, "commits": 1, "blobs": 1}


def test_a_changed_file_under_a_scanned_key_is_a_new_upload(
    session_factory: sessionmaker[Session], local_store: ObjectStore
) -> None:
    local_store.put_bytes("incoming/daily.csv", GOOD_CSV)
    scan_incoming(session_factory=session_factory, store=local_store)
    local_store.put_bytes("incoming/daily.csv", GOOD_CSV + b"Tomorrow?,Yes.,a9\n")

    report = scan_incoming(session_factory=session_factory, store=local_store)

    assert [u.rows for u in report.committed] == [GOOD_ROWS + 1]
    with session_factory() as session:
        assert row_counts(session)["uploads"] == 2


def test_scan_leaves_files_in_place_when_the_database_fails(
    local_store: ObjectStore, tmp_path: Path
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        local_store.put_bytes("incoming/a.csv", GOOD_CSV)

        report = scan_incoming(session_factory=create_session_factory(engine), store=local_store)
    finally:
        engine.dispose()

    assert [key for key, _ in report.failed] == ["incoming/a.csv"]
    assert "no such table" in report.failed[0][1]
    assert report.committed == []
    assert report.rejected == []
    assert keys(local_store, "incoming/") == ["incoming/a.csv"]


def test_concurrent_scans_commit_each_file_once(
    session_factory: sessionmaker[Session], local_store: ObjectStore
) -> None:
    files = 6
    for n in range(files):
        local_store.put_bytes(f"incoming/f{n}.csv", GOOD_CSV + f"q{n},c{n},r\n".encode())
    barrier = threading.Barrier(2)
    reports = []
    failures: list[BaseException] = []

    def scan() -> None:
        try:
            barrier.wait(timeout=30)
            reports.append(scan_incoming(session_factory=session_factory, store=local_store))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=scan) for _ in range(2)]
    run_threads(threads, 120)

    assert failures == []
    assert sum(len(r.committed) for r in reports) == files
    assert [r.failed for r in reports] == [[], []]
    assert keys(local_store, "incoming/") == []
    with session_factory() as session:
        assert row_counts(session)["uploads"] == files
