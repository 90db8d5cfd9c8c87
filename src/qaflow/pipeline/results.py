"""The per-row results table of a batch run: Parquet for storage, CSV for people.

One row per data row of the upload: either an answer (with score and character offsets into the
context) or an error, never both. Pass-through columns travel as one JSON object so the schema
stays fixed whatever the upload's extra columns are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csvio import CONTEXT_COLUMN, QUESTION_COLUMN, CsvLayout, CsvRow
from qaflow.wording import unique_names

ResultStatus = Literal["ok", "error"]

RESULT_COLUMNS = ("answer", "score", "start", "end", "error")
ROW_GROUP_ROWS = 8192
# Contexts can be megabytes each, so a row group is also cut by size to bound writer memory.
ROW_GROUP_CHARS = 64 * 1024 * 1024
_RESULT_PREFIX = "qaflow_"


@dataclass(frozen=True)
class ResultRow:
    """The outcome for one data row; ``start``/``end`` are character offsets into ``context``."""

    row_index: int
    question: str
    context: str
    answer: str | None = None
    score: float | None = None
    start: int | None = None
    end: int | None = None
    error: str | None = None
    passthrough: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        outcome = (self.answer, self.score, self.start, self.end)
        if self.error is None and any(value is None for value in outcome):
            raise ValueError("an answered row needs answer, score, start and end")
        if self.error is not None and any(value is not None for value in outcome):
            raise ValueError("a failed row has an error and no answer, score, start or end")

    @property
    def status(self) -> ResultStatus:
        return "ok" if self.error is None else "error"

    @classmethod
    def answered(cls, row: CsvRow, answer: str, score: float, start: int, end: int) -> ResultRow:
        return cls(
            row.index, row.question, row.context, answer, score, start, end, None, row.passthrough
        )

    @classmethod
    def failed(cls, row: CsvRow, error: str) -> ResultRow:
        return cls(row.index, row.question, row.context, error=error, passthrough=row.passthrough)


def results_schema() -> pa.Schema:
    """The Arrow schema of a results file."""
    return pa.schema(
        [
            pa.field("row_index", pa.int64(), nullable=False),
            pa.field("question", pa.string(), nullable=False),
            pa.field("context", pa.string(), nullable=False),
            pa.field("answer", pa.string()),
            pa.field("score", pa.float64()),
            pa.field("start", pa.int64()),
            pa.field("end", pa.int64()),
            pa.field("error", pa.string()),
            pa.field("passthrough", pa.string(), nullable=False),
        ]
    )


def write_results_parquet(
    rows: Iterable[ResultRow], sink: BinaryIO, *, row_group_rows: int = ROW_GROUP_ROWS
) -> int:
    """Stream ``rows`` into a Parquet file on ``sink``, one row group per batch; return the count.

    ``sink`` is left open.
    """
    schema = results_schema()
    count = 0
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for group in _row_groups(rows, row_group_rows):
            writer.write_batch(pa.RecordBatch.from_pydict(_columns(group), schema=schema))
            count += len(group)
    return count


def read_results_parquet(
    source: BinaryIO, *, batch_rows: int = ROW_GROUP_ROWS
) -> Iterator[ResultRow]:
    """Yield the rows of a results file; ``source`` must be seekable and is left open."""
    names = results_schema().names
    try:
        parquet = pq.ParquetFile(source)
        missing = [name for name in names if name not in parquet.schema_arrow.names]
        if missing:
            raise InvalidInputError(
                f"The results file lacks the column(s) {', '.join(missing)}; "
                "it was not written by qaflow."
            )
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=names):
            columns = [batch.column(name).to_pylist() for name in names]
            for values in zip(*columns, strict=True):
                yield _result_row(values)
    except pa.ArrowException as exc:
        raise InvalidInputError(f"The results file is not a readable Parquet file: {exc}") from exc


def write_results_csv(
    rows: Iterable[ResultRow], sink: TextIO, *, layout: CsvLayout | None = None
) -> int:
    """Write ``rows`` as CSV: the upload's columns, then answer, score, start, end, error.

    ``layout`` (from the upload's ``CsvSummary.layout``) restores the original column names and
    order; without it the columns are question, context, then the first row's pass-through
    columns. A result column whose name an upload column already uses gets a ``qaflow_`` prefix.
    Open ``sink`` with ``newline=""``. Returns the number of rows written.
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if layout is None:
        extra = tuple(first.passthrough) if first is not None else ()
        layout = CsvLayout(
            (QUESTION_COLUMN, CONTEXT_COLUMN, *extra), QUESTION_COLUMN, CONTEXT_COLUMN
        )
    writer = csv.writer(sink)
    writer.writerow([*layout.columns, *_result_headers(layout.columns)])
    count = 0
    for row in _chain(first, iterator):
        writer.writerow([*_upload_values(row, layout), *_result_values(row)])
        count += 1
    return count


def _row_groups(rows: Iterable[ResultRow], max_rows: int) -> Iterator[list[ResultRow]]:
    group: list[ResultRow] = []
    chars = 0
    for row in rows:
        group.append(row)
        chars += len(row.question) + len(row.context) + len(row.answer or "")
        if len(group) >= max_rows or chars >= ROW_GROUP_CHARS:
            yield group
            group, chars = [], 0
    if group:
        yield group


def _columns(group: list[ResultRow]) -> dict[str, list[Any]]:
    return {
        "row_index": [row.row_index for row in group],
        "question": [row.question for row in group],
        "context": [row.context for row in group],
        "answer": [row.answer for row in group],
        "score": [row.score for row in group],
        "start": [row.start for row in group],
        "end": [row.end for row in group],
        "error": [row.error for row in group],
        "passthrough": [json.dumps(dict(row.passthrough), ensure_ascii=False) for row in group],
    }


def _result_row(values: tuple[Any, ...]) -> ResultRow:
    row_index, question, context, answer, score, start, end, error, passthrough = values
    try:
        extra = json.loads(passthrough)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"Row {row_index}: the passthrough column is not JSON.") from exc
    if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
        raise InvalidInputError(f"Row {row_index}: passthrough is not a JSON object of strings.")
    try:
        return ResultRow(row_index, question, context, answer, score, start, end, error, extra)
    except ValueError as exc:
        raise InvalidInputError(f"Row {row_index} of the results file: {exc}.") from exc


def _result_headers(upload_columns: tuple[str, ...]) -> list[str]:
    return unique_names(RESULT_COLUMNS, upload_columns, _RESULT_PREFIX)


def _upload_values(row: ResultRow, layout: CsvLayout) -> list[str]:
    unknown = set(row.passthrough) - set(layout.passthrough_columns)
    if unknown:
        raise InvalidInputError(
            f"Row {row.row_index} has pass-through column(s) not in the upload's header: "
            f"{', '.join(sorted(unknown))}."
        )
    texts = {layout.question_column: row.question, layout.context_column: row.context}
    return [texts.get(name, row.passthrough.get(name, "")) for name in layout.columns]


def _result_values(row: ResultRow) -> list[str]:
    values = (row.answer, row.score, row.start, row.end, row.error)
    return ["" if value is None else str(value) for value in values]


def _chain(first: ResultRow | None, rest: Iterator[ResultRow]) -> Iterator[ResultRow]:
    if first is not None:
        yield first
        yield from rest
