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

This module is the public face; siblings do the work, layered bytes -> records -> rows:
:mod:`~qaflow.pipeline.csv_bytes` (checks, hash, copy, text view),
:mod:`~qaflow.pipeline.csv_records` (lines, records, header, shards),
:mod:`~qaflow.pipeline.csv_errors` (messages) and :mod:`~qaflow.pipeline.csv_types` (the values
handed out, re-exported here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csv_bytes import READ_CHUNK_BYTES, Prefix, TeeReader, text_over
from qaflow.pipeline.csv_errors import combined_error, ragged_problem
from qaflow.pipeline.csv_records import Lines, parse_records, read_header, shard_rows
from qaflow.pipeline.csv_types import (
    CONTEXT_COLUMN,
    QUESTION_COLUMN,
    CsvFormatError,
    CsvLayout,
    CsvRow,
    CsvSummary,
    empty_fields_error,
)
from qaflow.pipeline.row_index import ROW_INDEX_EVERY, ResumePoint, RowIndex, RowIndexBuilder

__all__ = [
    "CONTEXT_COLUMN",
    "MAX_FIELD_CHARS",
    "QUESTION_COLUMN",
    "READ_CHUNK_BYTES",
    "CsvFormatError",
    "CsvLayout",
    "CsvRow",
    "CsvSummary",
    "empty_fields_error",
    "iter_csv_rows",
    "validate_csv_stream",
]

MAX_FIELD_CHARS = 10 * 1024 * 1024
_LINE_ENDINGS = (b"\n", b"\r")
_log = logging.getLogger(__name__)


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
    tee = TeeReader(source, sink)
    problems: list[str] = []
    rows = empty_rows = 0
    with text_over(tee) as text:
        lines = Lines(text, max_field_chars)
        records = parse_records(lines, max_field_chars)
        layout = read_header(records)
        lines.offset += tee.bom_bytes  # known once the head is read; offsets count from byte 0
        index = RowIndexBuilder(row_index_every, lines.offset, layout.columns)
        every = index.every
        width = len(layout.columns)
        question_at = layout.columns.index(layout.question_column)
        context_at = layout.columns.index(layout.context_column)
        try:
            for line, offset, fields in records:
                if len(fields) != width:
                    problems.append(ragged_problem(line, width, len(fields)))
                    if len(problems) >= max_error_rows:
                        raise combined_error(problems, stopped=True)
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
            raise combined_error([*problems, exc.message], stopped=True) from exc
    if problems:
        raise combined_error(problems, stopped=False)
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
        with text_over(TeeReader(source, None)) as text:
            lines = Lines(text, max_field_chars, count_bytes=False)
            records = parse_records(lines, max_field_chars)
            layout = read_header(records)
            yield from shard_rows(records, layout, 0, start, stop)
        return
    layout, point = resumed
    tee = TeeReader(source, None, first_line=point.line)
    with text_over(tee, encoding="utf-8") as text:
        lines = Lines(text, max_field_chars, first_line=point.line, count_bytes=False)
        yield from shard_rows(parse_records(lines, max_field_chars), layout, point.row, start, stop)


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
    tee = TeeReader(Prefix(source, index.header_end), None)
    with text_over(tee) as text:
        lines = Lines(text, max_field_chars)
        try:
            layout = read_header(parse_records(lines, max_field_chars))
        except InvalidInputError:
            return None  # a full read reports it, unless a wrong header_end caused it
        header_end = lines.offset + tee.bom_bytes
    if layout.columns != index.columns or header_end != index.header_end:
        return None
    return layout
