"""Sparse row index of a validated CSV upload: where every n-th data row starts, in bytes.

Validation records it for free while it parses; it is stored as a small JSON object beside the
blob (:func:`qaflow.versioning.blobs.row_index_key`). A reader of rows ``[start, stop)`` seeks to
the nearest indexed row at or before ``start`` instead of parsing the whole file up to it. The
index is only an optimisation: a missing or unreadable one means reading from the beginning.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from qaflow.errors import NotFoundError, QaflowError
from qaflow.storage import ObjectStore
from qaflow.versioning.blobs import row_index_key

# Rows between two indexed offsets: a shard read parses at most this many rows it then skips.
ROW_INDEX_EVERY = 1000
# Bumped when the JSON changes incompatibly; row_index_key's prefix carries the same number.
ROW_INDEX_FORMAT = 1

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePoint:
    """An indexed data row: its 0-based index, its first physical line and its byte offset."""

    row: int
    line: int
    offset: int


@dataclass(frozen=True)
class RowIndex:
    """Byte offsets (from the first byte of the file, BOM included) of data rows 0, n, 2n, ...

    ``lines[i]`` is the 1-based physical line on which data row ``i * every`` starts;
    ``header_end`` is the offset just past the header record. Construction checks that the
    numbers are consistent (ValueError otherwise), not that they fit a particular file.
    """

    every: int
    header_end: int
    columns: tuple[str, ...]
    offsets: tuple[int, ...]
    lines: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.every < 1 or self.header_end < 1 or not self.columns or not self.offsets:
            raise ValueError("every, header_end, columns and offsets must be set")
        if len(self.lines) != len(self.offsets):
            raise ValueError("offsets and lines differ in length")
        if self.offsets[0] < self.header_end or self.lines[0] < 2:
            raise ValueError("the first data row starts inside the header")
        for earlier, later in ((self.offsets, self.offsets[1:]), (self.lines, self.lines[1:])):
            if any(b <= a for a, b in zip(earlier, later, strict=False)):
                raise ValueError("offsets and lines must increase")

    def resume_point(self, start: int) -> ResumePoint:
        """The indexed row nearest to data row ``start`` without passing it."""
        slot = min(start // self.every, len(self.offsets) - 1)
        return ResumePoint(slot * self.every, self.lines[slot], self.offsets[slot])

    def to_json(self) -> bytes:
        document = {
            "format": ROW_INDEX_FORMAT,
            "every": self.every,
            "header_end": self.header_end,
            "columns": list(self.columns),
            "offsets": list(self.offsets),
            "lines": list(self.lines),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RowIndex:
        """Parse and check a stored index; ValueError says what is wrong with it."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        if document.get("format") != ROW_INDEX_FORMAT:
            raise ValueError(f"format {document.get('format')!r}, expected {ROW_INDEX_FORMAT}")
        return cls(
            every=_integer(document, "every"),
            header_end=_integer(document, "header_end"),
            columns=tuple(_list_of(document, "columns", str)),
            offsets=tuple(_list_of(document, "offsets", int)),
            lines=tuple(_list_of(document, "lines", int)),
        )


class RowIndexBuilder:
    """Collects the offsets of data rows 0, ``every``, 2 * ``every``, ... during a parse."""

    def __init__(self, every: int, header_end: int, columns: tuple[str, ...]) -> None:
        if every < 1:
            raise ValueError("the row index interval must be at least 1")
        self.every = every
        self._header_end = header_end
        self._columns = columns
        self._offsets: list[int] = []
        self._lines: list[int] = []

    def add(self, line: int, offset: int) -> None:
        """Note where the next indexed data row (0, every, 2 * every, ...) starts."""
        self._offsets.append(offset)
        self._lines.append(line)

    def build(self) -> RowIndex:
        return RowIndex(
            self.every, self._header_end, self._columns, tuple(self._offsets), tuple(self._lines)
        )


def store_row_index(store: ObjectStore, sha256: str, index: RowIndex) -> bool:
    """Store the index of the blob ``sha256`` unless one is stored; whether this call wrote it.

    Storage failures raise (StorageError); callers that treat the index as optional catch them.
    """
    key = row_index_key(sha256)
    if store.exists(key):
        return False
    store.put_bytes(key, index.to_json())
    return True


def load_row_index(store: ObjectStore, sha256: str) -> RowIndex | None:
    """The stored index of the blob ``sha256``, or None when it is missing or unusable."""
    key = row_index_key(sha256)
    try:
        return RowIndex.from_json(store.get_bytes(key))
    except NotFoundError:
        return None  # uploaded before row indexes existed, or its write failed
    except (QaflowError, ValueError) as exc:
        _log.warning("ignoring the row index %s (rows are read from the start): %s", key, exc)
        return None


def _integer(document: dict[str, Any], name: str) -> int:
    value = document.get(name)
    if type(value) is not int:
        raise ValueError(f"{name!r} is not an integer")
    return value


def _list_of(document: dict[str, Any], name: str, kind: type[Any]) -> list[Any]:
    value = document.get(name)
    if not isinstance(value, list) or any(type(item) is not kind for item in value):
        raise ValueError(f"{name!r} is not a list of {kind.__name__}")
    return value
