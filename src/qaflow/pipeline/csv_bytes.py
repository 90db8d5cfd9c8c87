"""Byte-level reading of an upload: the checks, hash and copy every byte passes through.

The text view built here is what the record parser reads. Checking bytes before they are decoded
is what lets a rejection name a line (see :class:`TeeReader`); a signature check on the head
turns the usual wrong files (images, spreadsheets, UTF-16 text) into a clear message.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, Protocol

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csv_errors import EXPECTED_FORMAT

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_CHUNK_BYTES = 256 * 1024
_SIGNATURE_BYTES = 16

# Files people upload by mistake; the ones that are valid ASCII (PDF) would otherwise pass the
# encoding check and fail later with a confusing header message.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office file (an Excel .xls workbook?)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


class Prefix:
    """The first ``limit`` bytes of ``source``, so a header read never reads past the header."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._left = limit

    def read(self, size: int, /) -> bytes:
        data = self._source.read(min(size, self._left) if size >= 0 else self._left)
        self._left -= len(data)
        return data


class _ByteSource(Protocol):
    def read(self, size: int, /) -> bytes: ...


class TeeReader(io.RawIOBase):
    """Raw stream over ``source`` that checks, hashes and copies every byte a reader pulls.

    Checking here rather than in the text wrapper is what lets errors name a line: the wrapper's
    decode errors only know an offset within its current chunk.
    """

    def __init__(self, source: _ByteSource, sink: BinaryIO | None, *, first_line: int = 1) -> None:
        super().__init__()
        self._source = source
        self._sink = sink
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        # Reading from line 1 means reading the file's head: check its signature, note its BOM.
        self._at_head = first_line == 1
        self._newlines = first_line - 1
        self._at_eof = False
        self.sha256 = hashlib.sha256()
        self.size_bytes = 0
        self.bom_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with memoryview(buffer) as view, view.cast("B") as octets:
            data = self._read(len(octets))
            octets[: len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        if self._at_eof:
            return b""
        data = self._source.read(size)
        if self._at_head:
            data = self._read_head(data, size)
            self._at_head = False
        if not data:
            self._at_eof = True
            self._check_text(b"", final=True)
            return b""
        self._check_text(data, final=False)
        self.sha256.update(data)
        if self._sink is not None:
            self._sink.write(data)
        self.size_bytes += len(data)
        self._newlines += data.count(b"\n")
        return data

    def _read_head(self, data: bytes, size: int) -> bytes:
        # Short reads are legal: gather enough bytes to recognise a file signature.
        while data and len(data) < min(_SIGNATURE_BYTES, size):
            more = self._source.read(size - len(data))
            if not more:
                break
            data += more
        if not data:
            raise InvalidInputError("The file is empty.")
        _check_signature(data)
        if data.startswith(codecs.BOM_UTF8):
            self.bom_bytes = len(codecs.BOM_UTF8)
        return data

    def _check_text(self, data: bytes, *, final: bool) -> None:
        nul_at = data.find(b"\x00")
        if nul_at >= 0:
            line = self._newlines + data.count(b"\n", 0, nul_at) + 1
            raise InvalidInputError(
                f"The file is binary, not CSV text: it contains a NUL byte at line {line}. "
                f"{EXPECTED_FORMAT}"
            )
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            # exc.object is the decoder's pending bytes plus data; pending bytes hold no newline.
            line = self._newlines + exc.object.count(b"\n", 0, exc.start) + 1
            bad = exc.object[exc.start]
            raise InvalidInputError(
                f"The file is not UTF-8 text: invalid byte 0x{bad:02X} at line {line}."
            ) from exc


def _check_signature(head: bytes) -> None:
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            raise InvalidInputError(
                f"The file is {encoding} text; save it as UTF-8 and upload it again."
            )
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            raise InvalidInputError(f"The file is {kind}, not a CSV text file. {EXPECTED_FORMAT}")


@contextmanager
def text_over(tee: TeeReader, encoding: str = "utf-8-sig") -> Iterator[io.TextIOWrapper]:
    """A UTF-8 text view of a tee reader; the tee never closes the caller's source.

    Line endings are kept (``newline=""``): the csv module needs them, and byte offsets do.
    """
    buffered = io.BufferedReader(tee, buffer_size=READ_CHUNK_BYTES)
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    try:
        yield text
    finally:
        text.detach()
