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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.db import ShardDigest, insert_ignoring_duplicates
from qaflow.errors import InvalidInputError, TerminalError
from qaflow.pipeline._sql import IN_CHUNK, in_chunks
from qaflow.pipeline.csvio import validate_csv_stream
from qaflow.pipeline.row_index import RowIndex, load_row_index
from qaflow.storage import ObjectStore
from qaflow.versioning import blob_key

# (blob sha256, shard start, shard stop) -> the shard's content digest
ShardKey = tuple[str, int, int]
Digests = Mapping[ShardKey, str]

_READ_BYTES = 1 << 20
_ONLY_ROW_ZERO = 2**62  # an index interval that records the first data row alone
_LINE_ENDINGS = (b"\n", b"\r")
_log = logging.getLogger(__name__)


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...


def shard_ranges(rows: int, shard_rows: int) -> list[tuple[int, int]]:
    """Rows ``[0, rows)`` cut into ranges of at most ``shard_rows`` rows."""
    return [(start, min(start + shard_rows, rows)) for start in range(0, rows, shard_rows)]


def known_digests(session: Session, blobs: Iterable[str]) -> dict[ShardKey, str]:
    """Every stored shard digest of the blobs ``blobs``."""
    found: dict[ShardKey, str] = {}
    for chunk in in_chunks(sorted(set(blobs))):
        for entry in session.scalars(select(ShardDigest).where(ShardDigest.blob_sha256.in_(chunk))):
            found[(entry.blob_sha256, entry.shard_start, entry.shard_stop)] = entry.digest
    return found


def ensure_digests(
    *,
    session: Session,
    store: ObjectStore,
    blobs: Mapping[str, int],
    shard_rows: int,
    halted: Callable[[], bool] = lambda: False,
) -> dict[ShardKey, str]:
    """The digests of every shard of ``blobs`` (sha256 -> rows), computing the missing; commits.

    Stops reading blobs once ``halted`` is true (a worker asked to stop): the digests are then
    incomplete.

    A blob that cannot be digested (missing from the store, or not the CSV its row count
    says) gets none: its datums are keyed by the whole file and fail where they run, with
    their tries, so one bad file does not fail the others. StorageError (transient) propagates.
    """
    known = known_digests(session, blobs)
    session.commit()  # no transaction stays open while blobs are read
    for sha256, rows in sorted(blobs.items()):
        ranges = shard_ranges(rows, shard_rows)
        if all((sha256, start, stop) in known for start, stop in ranges):
            continue
        if halted():
            break
        try:
            digests = compute_digests(store, sha256, ranges)
        except TerminalError as exc:
            _log.warning("no shard digests for blob %s: %s", sha256[:12], exc.message)
            continue
        entries = [
            {"blob_sha256": sha256, "shard_start": start, "shard_stop": stop, "digest": digest}
            for (start, stop), digest in zip(ranges, digests, strict=True)
        ]
        for first in range(0, len(entries), IN_CHUNK):
            insert_ignoring_duplicates(
                session,
                ShardDigest,
                entries[first : first + IN_CHUNK],
                ["blob_sha256", "shard_start", "shard_stop"],
            )
        session.commit()
        known.update({(sha256, a, b): d for (a, b), d in zip(ranges, digests, strict=True)})
    return known


def compute_digests(
    store: ObjectStore, sha256: str, ranges: Sequence[tuple[int, int]]
) -> list[str]:
    """The digests of the contiguous row ranges ``ranges`` (from row 0) of the CSV blob.

    Row offsets come from the blob's stored row index when it has them and they fit the
    file, else from parsing it. Raises InvalidInputError when the blob is not such a CSV.
    """
    if not ranges:
        return []
    starts = [start for start, _ in ranges]
    index = load_row_index(store, sha256)
    if index is not None and _covers(index, starts):
        digests = _hash_shards(store, sha256, index.header_end, _offsets(index, starts))
        if digests is not None:
            return digests
        _log.warning("the row index of blob %s does not fit it; parsing the file", sha256[:12])
    every = starts[1] - starts[0] if len(starts) > 1 else _ONLY_ROW_ZERO
    with store.open_read(blob_key(sha256)) as source:
        index = validate_csv_stream(source, row_index_every=every).row_index
    if not _covers(index, starts):
        raise InvalidInputError(f"it has fewer rows than its shards need ({starts[-1] + 1})")
    digests = _hash_shards(store, sha256, index.header_end, _offsets(index, starts))
    if digests is None:
        raise InvalidInputError("its rows do not start where its parse says")
    return digests


def _covers(index: RowIndex, starts: Sequence[int]) -> bool:
    return all(
        start % index.every == 0 and start // index.every < len(index.offsets) for start in starts
    )


def _offsets(index: RowIndex, starts: Sequence[int]) -> list[int]:
    return [index.offsets[start // index.every] for start in starts]


def _hash_shards(
    store: ObjectStore, sha256: str, header_end: int, starts: Sequence[int]
) -> list[str] | None:
    """Hash each shard (from its offset in ``starts`` to the next, the last to the end) after
    the header's bytes; None when a shard or the header does not end with a line break, the
    sign of offsets that are not the file's."""
    with store.open_read(blob_key(sha256)) as source:
        header = _read_exactly(source, header_end)
        between = _read_exactly(source, starts[0] - header_end)  # blank lines before row 0
        if header[-1:] not in _LINE_ENDINGS or between[-1:] not in (b"", *_LINE_ENDINGS):
            return None
        prefix = hashlib.sha256(header).digest()
        digests = []
        for number, begin in enumerate(starts):
            digest = hashlib.sha256(prefix)
            if number + 1 < len(starts):
                if _hash_bytes(source, digest, starts[number + 1] - begin) not in _LINE_ENDINGS:
                    return None
            else:
                _hash_rest(source, digest)
            digests.append(digest.hexdigest())
    return digests


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts = []
    while size > 0:
        block = source.read(min(size, _READ_BYTES))
        if not block:
            raise InvalidInputError("the file ends before the offsets of its rows")
        parts.append(block)
        size -= len(block)
    return b"".join(parts)


def _hash_bytes(source: BinaryIO, digest: _Hash, size: int) -> bytes:
    """Hash the next ``size`` bytes of ``source``; returns the last of them."""
    last = b""
    while size > 0:
        block = _read_exactly(source, min(size, _READ_BYTES))
        digest.update(block)
        size -= len(block)
        last = block[-1:]
    return last


def _hash_rest(source: BinaryIO, digest: _Hash) -> None:
    while block := source.read(_READ_BYTES):
        digest.update(block)
