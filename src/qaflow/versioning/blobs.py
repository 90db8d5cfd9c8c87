"""Content-addressed blobs: each distinct content stored once, never overwritten."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy.orm import Session

from qaflow.db import Blob, insert_ignoring_duplicates
from qaflow.errors import InvalidInputError
from qaflow.storage import ObjectStore

BLOB_PREFIX = "blobs/sha256/"
# Objects derived from a blob (recomputable, so outside blobs/); v1 is the row index's format.
ROW_INDEX_PREFIX = "derived/csv-row-index/v1/"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def blob_key(sha256: str) -> str:
    """The object key of the blob with this (lower-case hex) SHA-256."""
    return _fanned_out(BLOB_PREFIX, sha256)


def row_index_key(sha256: str) -> str:
    """The object key of the CSV row index (a JSON sidecar) of the blob with this SHA-256."""
    return _fanned_out(ROW_INDEX_PREFIX, sha256) + ".json"


def _fanned_out(prefix: str, sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):
        raise InvalidInputError(f"not a lower-case hex SHA-256 digest: {sha256!r}")
    return f"{prefix}{sha256[:2]}/{sha256}"


def store_blob_from_file(
    *, session: Session, store: ObjectStore, path: Path, sha256: str, size: int
) -> None:
    """Store a local file whose digest and size the caller computed, if not stored yet.

    The object is written before the ``blobs`` row, so a row never names a missing object;
    an object left without a row (the transaction rolled back) is harmless and reused later.
    """
    key = blob_key(sha256)
    if not store.exists(key):
        with path.open("rb") as source:
            store.put_file(key, source)
    _record(session, sha256, size)


def store_blob_bytes(*, session: Session, store: ObjectStore, data: bytes) -> str:
    """Store ``data`` as a blob if not stored yet; returns its SHA-256."""
    sha256 = hashlib.sha256(data).hexdigest()
    key = blob_key(sha256)
    if not store.exists(key):
        store.put_bytes(key, data)
    _record(session, sha256, len(data))
    return sha256


def _record(session: Session, sha256: str, size: int) -> None:
    # ON CONFLICT DO NOTHING: two writers storing the same content at once both succeed.
    insert_ignoring_duplicates(session, Blob, [{"sha256": sha256, "size": size}], ["sha256"])
