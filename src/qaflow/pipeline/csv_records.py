"""From a text view to CSV records and data rows.

The layer between :mod:`~qaflow.pipeline.csv_bytes` and the entry points in
:mod:`~qaflow.pipeline.csvio`: physical lines bounded in length (so a never-closed quote cannot
eat memory), the csv module's records with the line and byte offset each starts at (what error
messages and the row index need), the header, and rows cut to a shard.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csv_errors import (
    line_too_long_error,
    missing_columns_message,
    parse_problem,
    ragged_problem,
)
from qaflow.pipeline.csv_types import CONTEXT_COLUMN, QUESTION_COLUMN, CsvLayout, CsvRow


class Lines:
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
                raise line_too_long_error(line_number, max_chars)
            if count_bytes:
                # isascii() is O(1) on CPython strings; only other lines pay for an encode.
                self.offset += len(line) if line.isascii() else len(line.encode())
            yield line


# A non-blank record: the physical line and byte offset where it starts, then its fields. A
# plain tuple, not a NamedTuple: one is made per row and the difference shows on large files.
Record = tuple[int, int, list[str]]


def parse_records(lines: Lines, max_field_chars: int) -> Iterator[Record]:
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
                parse_problem(str(exc), start, before + reader.line_num, max_field_chars)
            ) from exc
        if len(fields) <= 1 and not "".join(fields).strip():
            continue
        yield start, offset, fields


def read_header(records: Iterator[Record]) -> CsvLayout:
    """The layout the first record names; the header must name both required columns, once."""
    first = next(records, None)
    if first is None:
        raise InvalidInputError("The file has no header row: it contains only blank lines.")
    names = first[2]
    normalized = [name.strip().casefold() for name in names]
    missing = [name for name in (QUESTION_COLUMN, CONTEXT_COLUMN) if name not in normalized]
    if missing:
        raise InvalidInputError(missing_columns_message(names, missing))
    duplicates = sorted({name for name in normalized if normalized.count(name) > 1})
    if duplicates:
        shown = ", ".join(f"'{name}'" for name in duplicates)
        raise InvalidInputError(
            f"Column names must be unique (ignoring case and surrounding spaces): {shown} "
            f"{'appears' if len(duplicates) == 1 else 'appear'} more than once."
        )
    return CsvLayout(
        columns=tuple(names),
        question_column=names[normalized.index(QUESTION_COLUMN)],
        context_column=names[normalized.index(CONTEXT_COLUMN)],
    )


def shard_rows(
    records: Iterator[Record], layout: CsvLayout, first: int, start: int, stop: int | None
) -> Iterator[CsvRow]:
    """Rows ``[start, stop)`` of ``records``, whose first is data row ``first``."""
    names = layout.columns
    for index, (line, _, fields) in enumerate(records, first):
        if len(fields) != len(names):
            raise InvalidInputError(ragged_problem(line, len(names), len(fields)))
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
