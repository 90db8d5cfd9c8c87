"""Validation and row-wise reading of uploaded question/context CSV files.

Uploads can be gigabytes, so both entry points read in chunks: memory stays bounded by the field
and line limits, never by the file size.

Error policy of :func:`validate_csv_stream`: problems with the file as a whole (empty, binary, not
UTF-8, header, a field or line over the size limits) stop validation at once. Row problems (wrong
field count) are collected, up to ``max_error_rows``, and raised together as one
:class:`CsvFormatError`, first problem first; a malformed quote stops collection, since the rows
after it can no longer be told apart. Because bytes are checked slightly ahead of parsing, row
problems in the last few kilobytes before a bad byte may go unreported.

Validation also builds a sparse :class:`~qaflow.pipeline.row_index.RowIndex` (byte offsets of
every n-th data row); given it, :func:`iter_csv_rows` seeks near its first row instead of parsing
the whole file up to it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol

from qaflow.errors import InvalidInputError
from qaflow.pipeline.row_index import ROW_INDEX_EVERY, ResumePoint, RowIndex, RowIndexBuilder

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

QUESTION_COLUMN = "question"
CONTEXT_COLUMN = "context"
MAX_FIELD_CHARS = 10 * 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024
_SIGNATURE_BYTES = 16
_SHOWN_COLUMNS = 20
_SHOWN_NAME_CHARS = 40
_LINE_ENDINGS = (b"\n", b"\r")
_log = logging.getLogger(__name__)

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
_EXPECTED = (
    "Upload a comma-separated UTF-8 text file whose header row names "
    f"'{QUESTION_COLUMN}' and '{CONTEXT_COLUMN}' columns."
)


class CsvFormatError(InvalidInputError):
    """An upload breaks the CSV rules; ``problems`` lists each one, first first."""

    def __init__(self, message: str, problems: tuple[str, ...]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class CsvLayout:
    """Where the question and context sit among an upload's columns (original names, in order)."""

    columns: tuple[str, ...]
    question_column: str
    context_column: str

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        answered = (self.question_column, self.context_column)
        return tuple(name for name in self.columns if name not in answered)


@dataclass(frozen=True)
class CsvSummary:
    """What validation learned about an accepted upload."""

    sha256: str
    size_bytes: int
    rows: int
    columns: list[str]
    question_column: str
    context_column: str
    passthrough_columns: list[str]
    empty_rows: int
    row_index: RowIndex

    @property
    def layout(self) -> CsvLayout:
        return CsvLayout(tuple(self.columns), self.question_column, self.context_column)


@dataclass(frozen=True)
class CsvRow:
    """One data row: its 0-based index among data rows, the texts to answer, the other columns."""

    index: int
    question: str
    context: str
    passthrough: dict[str, str]

    @property
    def empty_error(self) -> str | None:
        """The error to report for this row when its question or context is blank, else None."""
        return empty_fields_error(self.question, self.context)


def empty_fields_error(question: str, context: str) -> str | None:
    """Why a row cannot be answered because of blank text, or None when both texts are present."""
    missing = [
        name
        for name, text in ((QUESTION_COLUMN, question), (CONTEXT_COLUMN, context))
        if not text.strip()
    ]
    if not missing:
        return None
    return f"The {' and the '.join(missing)} {'is' if len(missing) == 1 else 'are'} empty."


def validate_csv_stream(
    source: BinaryIO,
    sink: BinaryIO | None = None,
    *,
    max_error_rows: int = 20,
    max_field_chars: int = MAX_FIELD_CHARS,
    row_index_every: int = ROW_INDEX_EVERY,
) -> CsvSummary:
    """Read an upload once: copy its bytes to ``sink``, hash them, check the CSV rules, index it.

    Raises InvalidInputError (a :class:`CsvFormatError` for row problems) when the file is
    rejected; ``sink`` then holds a partial copy the caller should discard. Errors raised by
    ``source`` or ``sink`` themselves propagate unchanged.
    """
    if max_error_rows < 1:
        raise ValueError("max_error_rows must be at least 1")
    tee = _TeeReader(source, sink)
    problems: list[str] = []
    rows = empty_rows = 0
    with _text_over(tee) as text:
        lines = _Lines(text, max_field_chars)
        records = _records(lines, max_field_chars)
        layout = _read_header(records)
        lines.offset += tee.bom_bytes  # known once the head is read; offsets count from byte 0
        index = RowIndexBuilder(row_index_every, lines.offset, layout.columns)
        every = index.every
        width = len(layout.columns)
        question_at = layout.columns.index(layout.question_column)
        context_at = layout.columns.index(layout.context_column)
        try:
            for line, offset, fields in records:
                if len(fields) != width:
                    problems.append(_ragged(line, width, len(fields)))
                    if len(problems) >= max_error_rows:
                        raise _combined(problems, stopped=True)
                    continue
                # In a file that is accepted, ``rows`` is this record's data row number.
                if rows % every == 0:
                    index.add(line, offset)
                rows += 1
                if empty_fields_error(fields[question_at], fields[context_at]):
                    empty_rows += 1
        except InvalidInputError as exc:
            if isinstance(exc, CsvFormatError) or not problems:
                raise
            raise _combined([*problems, exc.message], stopped=True) from exc
    if problems:
        raise _combined(problems, stopped=False)
    if rows == 0:
        raise InvalidInputError("The file has a header but no data rows.")
    return CsvSummary(
        sha256=tee.sha256.hexdigest(),
        size_bytes=tee.size_bytes,
        rows=rows,
        columns=list(layout.columns),
        question_column=layout.question_column,
        context_column=layout.context_column,
        passthrough_columns=list(layout.passthrough_columns),
        empty_rows=empty_rows,
        row_index=index.build(),
    )


def iter_csv_rows(
    source: BinaryIO,
    *,
    start: int = 0,
    stop: int | None = None,
    max_field_chars: int = MAX_FIELD_CHARS,
    index: RowIndex | None = None,
) -> Iterator[CsvRow]:
    """Yield the data rows ``[start, stop)`` of a validated upload.

    Without ``index`` (or when ``source`` cannot seek, or the index does not match the file)
    the file is parsed from its beginning. With it, only the header and the rows from the
    nearest indexed row at or before ``start`` are read. Reading stops as soon as ``stop`` is
    reached. A file that breaks the rules raises InvalidInputError at the offending row, with
    the line number a full read gives; the one exception, after a seek, is the line of a bad
    byte (NUL, invalid UTF-8) in a file with lone-CR line breaks, which a validated file lacks.
    """
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"invalid row range [{start}, {stop})")
    return _rows(source, start, stop, max_field_chars, index)


def _rows(
    source: BinaryIO,
    start: int,
    stop: int | None,
    max_field_chars: int,
    index: RowIndex | None,
) -> Iterator[CsvRow]:
    if stop == start:
        return
    resumed = None if index is None else _seek_near(source, index, start, max_field_chars)
    if resumed is None:
        with _text_over(_TeeReader(source, None)) as text:
            lines = _Lines(text, max_field_chars, count_bytes=False)
            records = _records(lines, max_field_chars)
            layout = _read_header(records)
            yield from _shard(records, layout, 0, start, stop)
        return
    layout, point = resumed
    tee = _TeeReader(source, None, first_line=point.line)
    with _text_over(tee, encoding="utf-8") as text:
        lines = _Lines(text, max_field_chars, first_line=point.line, count_bytes=False)
        yield from _shard(_records(lines, max_field_chars), layout, point.row, start, stop)


def _shard(
    records: Iterator[_Record], layout: CsvLayout, first: int, start: int, stop: int | None
) -> Iterator[CsvRow]:
    """Rows ``[start, stop)`` of ``records``, whose first is data row ``first``."""
    names = layout.columns
    for index, (line, _, fields) in enumerate(records, first):
        if len(fields) != len(names):
            raise InvalidInputError(_ragged(line, len(names), len(fields)))
        if index < start:
            continue
        values = dict(zip(names, fields, strict=True))
        yield CsvRow(
            index=index,
            question=values.pop(layout.question_column),
            context=values.pop(layout.context_column),
            passthrough=values,
        )
        if stop is not None and index + 1 >= stop:
            return


def _seek_near(
    source: BinaryIO, index: RowIndex, start: int, max_field_chars: int
) -> tuple[CsvLayout, ResumePoint] | None:
    """Read the header, then seek ``source`` to the indexed row nearest ``start``.

    None (with ``source`` back where it was) when it cannot seek or the index does not fit the
    file: the caller then reads from the beginning (and reports a bad header itself).
    """
    if not source.seekable():
        return None
    base = source.tell()
    layout = _indexed_header(source, index, max_field_chars)
    point = index.resume_point(start)
    if layout is not None:
        # A row starts right after a line break: a cheap check that the offset is a row's start.
        source.seek(base + point.offset - 1)
        if source.read(1) in _LINE_ENDINGS:
            return layout, point
    _log.warning("the row index does not match the file; reading rows from its start")
    source.seek(base)
    return None


def _indexed_header(source: BinaryIO, index: RowIndex, max_field_chars: int) -> CsvLayout | None:
    """The header read from exactly the index's header bytes; None if it is not the indexed one."""
    tee = _TeeReader(_Prefix(source, index.header_end), None)
    with _text_over(tee) as text:
        lines = _Lines(text, max_field_chars)
        try:
            layout = _read_header(_records(lines, max_field_chars))
        except InvalidInputError:
            return None  # a full read reports it, unless a wrong header_end caused it
        header_end = lines.offset + tee.bom_bytes
    if layout.columns != index.columns or header_end != index.header_end:
        return None
    return layout


class _Prefix:
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


class _TeeReader(io.RawIOBase):
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
                f"{_EXPECTED}"
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
            raise InvalidInputError(f"The file is {kind}, not a CSV text file. {_EXPECTED}")


@contextmanager
def _text_over(tee: _TeeReader, encoding: str = "utf-8-sig") -> Iterator[io.TextIOWrapper]:
    """A UTF-8 text view of a tee reader; the tee never closes the caller's source.

    Line endings are kept (``newline=""``): the csv module needs them, and byte offsets do.
    """
    buffered = io.BufferedReader(tee, buffer_size=READ_CHUNK_BYTES)
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    try:
        yield text
    finally:
        text.detach()


# A non-blank record: the physical line and byte offset where it starts, then its fields. A
# plain tuple, not a NamedTuple: one is made per row and the difference shows on large files.
_Record = tuple[int, int, list[str]]


def _records(lines: _Lines, max_field_chars: int) -> Iterator[_Record]:
    """Yield each non-blank record of ``lines``."""
    # The limit is process-wide in the csv module; set on every read so no other caller's value
    # leaks in. It bounds memory when a quote is never closed.
    csv.field_size_limit(max_field_chars)
    reader = csv.reader(lines, strict=True)
    before = lines.first_line - 1
    while True:
        # The csv reader pulls lines only as a record needs them, so this is where it starts.
        start, offset = before + reader.line_num + 1, lines.offset
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInputError(
                _parse_problem(str(exc), start, before + reader.line_num, max_field_chars)
            ) from exc
        if len(fields) <= 1 and not "".join(fields).strip():
            continue
        yield start, offset, fields


class _Lines:
    """The physical lines of a text view, each bounded in length, counted in bytes.

    ``first_line`` and ``offset`` say where the first line read starts in the file. ``offset``
    then advances to where the next line starts (not counting a BOM the text view skipped),
    unless ``count_bytes`` is off: counting costs a little on every line.
    """

    __slots__ = ("_count_bytes", "_max_chars", "_text", "first_line", "offset")

    def __init__(
        self,
        text: io.TextIOWrapper,
        max_field_chars: int,
        *,
        first_line: int = 1,
        offset: int = 0,
        count_bytes: bool = True,
    ) -> None:
        self._text = text
        self._max_chars = 2 * max_field_chars
        self._count_bytes = count_bytes
        self.first_line = first_line
        self.offset = offset

    def __iter__(self) -> Iterator[str]:
        max_chars = self._max_chars
        count_bytes = self._count_bytes
        line_number = self.first_line - 1
        while line := self._text.readline(max_chars + 1):
            line_number += 1
            if len(line) > max_chars:
                raise _line_too_long(line_number, max_chars)
            if count_bytes:
                # isascii() is O(1) on CPython strings; only other lines pay for an encode.
                self.offset += len(line) if line.isascii() else len(line.encode())
            yield line


def _line_too_long(line_number: int, max_chars: int) -> InvalidInputError:
    return InvalidInputError(
        f"Line {line_number}: the line is longer than {max_chars:,} characters, the most "
        "accepted; is this really a CSV file?"
    )


def _parse_problem(reason: str, start: int, line: int, max_field_chars: int) -> str:
    if "field limit" in reason:
        return (
            f"Line {start}: a field is longer than {max_field_chars:,} characters, the most "
            "accepted (is a closing '\"' missing?)."
        )
    if "unexpected end of data" in reason:
        return f"Line {start}: a quoted field is never closed (a closing '\"' is missing)."
    if "expected after" in reason:
        return (
            f"Line {line}: a closing '\"' must be followed by a comma or the end of the line; "
            "write a quote inside a quoted field as '\"\"'."
        )
    return f"Line {line}: malformed CSV ({reason})."


def _read_header(records: Iterator[_Record]) -> CsvLayout:
    first = next(records, None)
    if first is None:
        raise InvalidInputError("The file has no header row: it contains only blank lines.")
    names = first[2]
    normalized = [name.strip().casefold() for name in names]
    missing = [name for name in (QUESTION_COLUMN, CONTEXT_COLUMN) if name not in normalized]
    if missing:
        raise InvalidInputError(_missing_columns_message(names, missing))
    duplicates = sorted({name for name in normalized if normalized.count(name) > 1})
    if duplicates:
        shown = ", ".join(f"'{name}'" for name in duplicates)
        raise InvalidInputError(
            f"Column names must be unique (ignoring case and surrounding spaces): {shown} "
            "appear more than once."
        )
    return CsvLayout(
        columns=tuple(names),
        question_column=names[normalized.index(QUESTION_COLUMN)],
        context_column=names[normalized.index(CONTEXT_COLUMN)],
    )


def _missing_columns_message(names: list[str], missing: list[str]) -> str:
    head = names[0].lstrip()
    if head.startswith(("{", "[")):
        return f"The file looks like JSON, not CSV. {_EXPECTED}"
    if head.startswith("<"):
        return f"The file looks like HTML or XML, not CSV. {_EXPECTED}"
    if len(names) == 1:
        for separator, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if separator in head:
                return (
                    f"The header has a single column; the file seems to separate values with "
                    f"{label}. qaflow expects commas. {_EXPECTED}"
                )
    found = ", ".join(_shorten(name) for name in names[:_SHOWN_COLUMNS])
    if len(names) > _SHOWN_COLUMNS:
        found += f", ... ({len(names)} in all)"
    if len(missing) == 1:
        return f"Missing required column '{missing[0]}' (found columns: {found})."
    return f"Missing required columns 'question' and 'context' (found columns: {found})."


def _shorten(name: str) -> str:
    return name if len(name) <= _SHOWN_NAME_CHARS else name[: _SHOWN_NAME_CHARS - 3] + "..."


def _ragged(line: int, expected: int, found: int) -> str:
    return f"Line {line}: expected {expected} fields, found {found}."


def _combined(problems: list[str], *, stopped: bool) -> CsvFormatError:
    if len(problems) == 1:
        return CsvFormatError(problems[0], (problems[0],))
    count = f"at least {len(problems)}" if stopped else str(len(problems))
    message = f"The file has {count} problems:\n" + "\n".join(problems)
    return CsvFormatError(message, tuple(problems))
