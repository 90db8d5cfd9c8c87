"""Content digests of row shards: what lets an edited or appended file reuse its unchanged shards.

A shard's digest hashes the file's header record and the bytes of the shard's rows. Datum ids
hash the digest (with the spec and the row range), so a file that keeps rows ``[start, stop)`` of
an earlier one byte for byte, under the same header, shares that shard's datum and its answers:
appending rows costs the new rows (and the earlier file's last, partial shard), editing a row
costs its shard. Rows inserted in the middle shift every later shard, which are then new.

Digests are computed once per blob and row range, by one sequential read of the blob, and kept
in the ``shard_digests`` table; a blob's digests never change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.db import ShardDigest, insert_ignoring_duplicates
from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.pipeline.csvio import validate_csv_stream
from qaflow.pipeline.row_index import RowIndex, load_row_index
from qaflow.storage import ObjectStore
from qaflow.versioning import blob_key

# (blob sha256, shard start, shard stop) -> the shard's content digest
ShardKey = tuple[str, int, int]
Digests = Mapping[ShardKey, str]

_READ_BYTES = 1 << 20
_IN_CHUNK = 500
_ONLY_ROW_ZERO = 2**62  # an index interval that records the first data row alone
_log = logging.getLogger(__name__)


def shard_ranges(rows: int, shard_rows: int) -> list[tuple[int, int]]:
    """Rows ``[0, rows)`` cut into ranges of at most ``shard_rows`` rows."""
    return [(start, min(start + shard_rows, rows)) for start in range(0, rows, shard_rows)]


def known_digests(session: Session, blobs: Iterable[str]) -> dict[ShardKey, str]:
    """Every stored shard digest of the blobs ``blobs``."""
    found: dict[ShardKey, str] = {}
    wanted = sorted(set(blobs))
    for start in range(0, len(wanted), _IN_CHUNK):
        query = select(ShardDigest).where(
            ShardDigest.blob_sha256.in_(wanted[start : start + _IN_CHUNK])
        )
        for entry in session.scalars(query):
            found[(entry.blob_sha256, entry.shard_start, entry.shard_stop)] = entry.digest
    return found


def ensure_digests(
    *, session: Session, store: ObjectStore, blobs: Mapping[str, int], shard_rows: int
) -> dict[ShardKey, str]:
    """The digests of every shard of ``blobs`` (sha256 -> rows), computing the missing; commits.

    A blob missing from the store gets none (its datums are keyed by the whole file). Raises
    InvalidInputError when a blob is not the CSV its row count says, and StorageError
    (transient) when the store cannot be read.
    """
    known = known_digests(session, blobs)
    for sha256, rows in sorted(blobs.items()):
        ranges = shard_ranges(rows, shard_rows)
        if all((sha256, start, stop) in known for start, stop in ranges):
            continue
        try:
            digests = compute_digests(store, sha256, ranges)
        except NotFoundError as exc:
            # Its datums are keyed by the whole file instead and fail where they run, with
            # their tries, and the job after the blob is back runs them.
            _log.warning("no shard digests for blob %s: %s", sha256[:12], exc.message)
            continue
        entries = [
            {"blob_sha256": sha256, "shard_start": start, "shard_stop": stop, "digest": digest}
            for (start, stop), digest in zip(ranges, digests, strict=True)
        ]
        for start in range(0, len(entries), _IN_CHUNK):
            insert_ignoring_duplicates(
                session,
                ShardDigest,
                entries[start : start + _IN_CHUNK],
                ["blob_sha256", "shard_start", "shard_stop"],
            )
        session.commit()
        known.update({(sha256, a, b): d for (a, b), d in zip(ranges, digests, strict=True)})
    return known


def compute_digests(
    store: ObjectStore, sha256: str, ranges: Sequence[tuple[int, int]]
) -> list[str]:
    """The digests of the contiguous row ranges ``ranges`` (from row 0) of the CSV blob."""
    if not ranges:
        return []
    header_end, starts = _row_offsets(store, sha256, [start for start, _ in ranges])
    with store.open_read(blob_key(sha256)) as source:
        header = _read_exactly(source, header_end)
        _read_exactly(source, starts[0] - header_end)  # blank lines before the first row
        prefix = hashlib.sha256(header).digest()
        digests = []
        for number, begin in enumerate(starts):
            digest = hashlib.sha256(prefix)
            if number + 1 < len(starts):
                _hash_bytes(source, digest, starts[number + 1] - begin)
            else:
                _hash_rest(source, digest)
            digests.append(digest.hexdigest())
    return digests


def _row_offsets(store: ObjectStore, sha256: str, starts: Sequence[int]) -> tuple[int, list[int]]:
    """The header's end and the byte offset of each data row in ``starts`` (ascending)."""
    index = load_row_index(store, sha256)
    if index is None or not _covers(index, starts):
        # No stored index at these rows: parse the file once, indexing every shard's first row.
        every = starts[1] - starts[0] if len(starts) > 1 else _ONLY_ROW_ZERO
        with store.open_read(blob_key(sha256)) as source:
            index = validate_csv_stream(source, row_index_every=every).row_index
        if not _covers(index, starts):
            raise InvalidInputError(
                f"blob {sha256[:12]} has fewer rows than its shards need ({starts[-1] + 1})"
            )
    return index.header_end, [index.offsets[start // index.every] for start in starts]


def _covers(index: RowIndex, starts: Sequence[int]) -> bool:
    return all(
        start % index.every == 0 and start // index.every < len(index.offsets) for start in starts
    )


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts = []
    while size > 0:
        block = source.read(min(size, _READ_BYTES))
        if not block:
            raise InvalidInputError("the file ended before the offsets its row index names")
        parts.append(block)
        size -= len(block)
    return b"".join(parts)


def _hash_bytes(source: BinaryIO, digest: hashlib._Hash, size: int) -> None:
    while size > 0:
        block = _read_exactly(source, min(size, _READ_BYTES))
        digest.update(block)
        size -= len(block)


def _hash_rest(source: BinaryIO, digest: hashlib._Hash) -> None:
    while block := source.read(_READ_BYTES):
        digest.update(block)
