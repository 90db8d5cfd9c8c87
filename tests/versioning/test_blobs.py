from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qaflow.db import Blob
from qaflow.errors import InvalidInputError
from qaflow.storage import ObjectStore
from qaflow.versioning import BLOB_PREFIX, blob_key, store_blob_bytes, store_blob_from_file


def blob_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Blob)) or 0


def test_blob_key_is_sharded_by_the_first_two_hex_digits() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert blob_key(sha) == f"blobs/sha256/{sha[:2]}/{sha}"


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61])
def test_blob_key_refuses_anything_but_a_hex_digest(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="SHA-256"):
        blob_key(bad)


def test_same_bytes_are_stored_once(session: Session, store: ObjectStore) -> None:
    data = b"question,context\nWho?,Ada.\n"
    first = store_blob_bytes(session=session, store=store, data=data)
    second = store_blob_bytes(session=session, store=store, data=data)
    session.commit()

    assert first == second == hashlib.sha256(data).hexdigest()
    assert [info.key for info in store.list(BLOB_PREFIX)] == [blob_key(first)]
    assert store.get_bytes(blob_key(first)) == data
    assert blob_rows(session) == 1
    blob = session.get(Blob, first)
    assert blob is not None
    assert blob.size == len(data)


def test_a_stored_blob_object_is_never_written_again(session: Session, store: ObjectStore) -> None:
    data = b"original content"
    sha = store_blob_bytes(session=session, store=store, data=data)
    session.commit()
    # Stand-in marker: were the object rewritten, the marker would be replaced by `data`.
    store.put_bytes(blob_key(sha), b"marker")

    assert store_blob_bytes(session=session, store=store, data=data) == sha
    source = Path(os.devnull)
    store_blob_from_file(session=session, store=store, path=source, sha256=sha, size=len(data))
    session.commit()

    assert store.get_bytes(blob_key(sha)) == b"marker"
    assert blob_rows(session) == 1


def test_store_blob_from_file_copies_the_file(
    session: Session, store: ObjectStore, tmp_path: Path
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a" * 3_000_000)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()

    store_blob_from_file(session=session, store=store, path=path, sha256=sha, size=3_000_000)
    session.commit()

    assert store.size(blob_key(sha)) == 3_000_000
    blob = session.get(Blob, sha)
    assert blob is not None
    assert blob.size == 3_000_000


def test_a_rolled_back_blob_leaves_no_row_and_its_object_is_reused(
    session: Session, local_store: ObjectStore
) -> None:
    data = b"rolled back"
    sha = store_blob_bytes(session=session, store=local_store, data=data)
    session.rollback()
    assert blob_rows(session) == 0
    assert local_store.exists(blob_key(sha))
    inode = os.stat(Path(local_store.url) / blob_key(sha)).st_ino

    store_blob_bytes(session=session, store=local_store, data=data)
    session.commit()

    assert blob_rows(session) == 1
    assert os.stat(Path(local_store.url) / blob_key(sha)).st_ino == inode
