"""The results table: Parquet round trip, CSV export, row invariants."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csvio import CsvRow, iter_csv_rows, validate_csv_stream
from qaflow.pipeline.results import (
    ResultRow,
    read_results_parquet,
    results_schema,
    write_results_csv,
    write_results_parquet,
)

ANSWERED = ResultRow(
    row_index=0,
    question="Who wrote it?",
    context="Ada wrote it, in 1843.",
    answer="Ada",
    score=0.91,
    start=0,
    end=3,
    passthrough={"id": "7", "note": 'a "quoted", multi\nline note'},
)
FAILED = ResultRow(
    row_index=1,
    question="",
    context="Größe – 日本語",  # noqa: RUF001 - non-ASCII text on purpose
    error="The question is empty.",
    passthrough={"id": "8", "note": ""},
)


def parquet_bytes(rows: list[ResultRow], **options: int) -> bytes:
    sink = io.BytesIO()
    write_results_parquet(rows, sink, **options)
    return sink.getvalue()


def csv_table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --- ResultRow -----------------------------------------------------------------------------------


def test_a_row_is_either_answered_or_failed() -> None:
    assert ANSWERED.status == "ok"
    assert FAILED.status == "error"
    with pytest.raises(ValueError, match="no answer"):
        ResultRow(0, "q", "c", answer="a", score=0.5, start=0, end=1, error="boom")
    with pytest.raises(ValueError, match="needs answer"):
        ResultRow(0, "q", "c", answer="a")


def test_rows_are_built_from_csv_rows() -> None:
    source = CsvRow(index=4, question="Who?", context="Ada.", passthrough={"id": "9"})

    assert ResultRow.answered(source, "Ada", 0.5, 0, 3) == ResultRow(
        4, "Who?", "Ada.", "Ada", 0.5, 0, 3, None, {"id": "9"}
    )
    assert ResultRow.failed(source, "no answer").error == "no answer"
    assert ResultRow.failed(source, "no answer").passthrough == {"id": "9"}


# --- Parquet -------------------------------------------------------------------------------------


def test_parquet_round_trip_keeps_every_field() -> None:
    sink = io.BytesIO()

    count = write_results_parquet([ANSWERED, FAILED], sink)

    assert count == 2
    assert not sink.closed
    sink.seek(0)
    assert list(read_results_parquet(sink)) == [ANSWERED, FAILED]


def test_parquet_file_has_the_documented_schema() -> None:
    table = pq.read_table(io.BytesIO(parquet_bytes([ANSWERED, FAILED])))

    assert table.schema.remove_metadata() == results_schema()
    assert table.column("answer").to_pylist() == ["Ada", None]
    assert table.column("error").to_pylist() == [None, "The question is empty."]
    assert table.column("passthrough").to_pylist()[0] == (
        '{"id": "7", "note": "a \\"quoted\\", multi\\nline note"}'
    )


def test_parquet_is_written_in_row_groups() -> None:
    rows = [
        ResultRow(i, f"q{i}", "context", "c", 0.5, 0, 1, passthrough={"n": str(i)})
        for i in range(10)
    ]

    data = parquet_bytes(rows, row_group_rows=4)

    assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == 3
    assert list(read_results_parquet(io.BytesIO(data), batch_rows=3)) == rows


def test_rows_can_come_from_a_generator() -> None:
    generated = (ResultRow(i, "q", "c", error="x") for i in range(5))

    assert write_results_parquet(generated, io.BytesIO()) == 5


def test_empty_results_file_is_readable() -> None:
    data = parquet_bytes([])

    assert list(read_results_parquet(io.BytesIO(data))) == []


def test_reading_something_else_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="not a readable Parquet file"):
        list(read_results_parquet(io.BytesIO(b"question,context\nq,c\n")))


def test_reading_a_foreign_parquet_file_names_missing_columns() -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"row_index": [1], "question": ["q"]}), sink)
    sink.seek(0)

    with pytest.raises(InvalidInputError, match="lacks the column"):
        list(read_results_parquet(sink))


# --- CSV export ----------------------------------------------------------------------------------


def test_csv_without_layout_puts_texts_first_then_passthrough_then_results() -> None:
    out = io.StringIO(newline="")

    assert write_results_csv([ANSWERED, FAILED], out) == 2

    assert csv_table(out.getvalue()) == [
        ["question", "context", "id", "note", "answer", "score", "start", "end", "error"],
        [
            "Who wrote it?",
            "Ada wrote it, in 1843.",
            "7",
            'a "quoted", multi\nline note',
            "Ada",
            "0.91",
            "0",
            "3",
            "",
        ],
        ["", FAILED.context, "8", "", "", "", "", "", "The question is empty."],
    ]


def test_csv_with_layout_restores_the_upload_columns() -> None:
    upload = b"id,  Question ,note,Context\n7,Who?,x,Ada.\n8,,y,Bob.\n"
    layout = validate_csv_stream(io.BytesIO(upload)).layout
    results = [
        ResultRow.answered(row, "Ada", 0.5, 0, 3)
        if row.empty_error is None
        else ResultRow.failed(row, row.empty_error)
        for row in iter_csv_rows(io.BytesIO(upload))
    ]
    out = io.StringIO(newline="")

    write_results_csv(results, out, layout=layout)

    assert csv_table(out.getvalue()) == [
        ["id", "  Question ", "note", "Context", "answer", "score", "start", "end", "error"],
        ["7", "Who?", "x", "Ada.", "Ada", "0.5", "0", "3", ""],
        ["8", "", "y", "Bob.", "", "", "", "", "The question is empty."],
    ]


def test_result_columns_never_collide_with_upload_columns() -> None:
    upload = b"question,context,Answer,score\nWho?,Ada.,Ada,1\n"
    layout = validate_csv_stream(io.BytesIO(upload)).layout
    (row,) = iter_csv_rows(io.BytesIO(upload))
    out = io.StringIO(newline="")

    write_results_csv([ResultRow.answered(row, "Ada", 0.5, 0, 3)], out, layout=layout)

    header, values = csv_table(out.getvalue())
    assert header == [
        "question",
        "context",
        "Answer",
        "score",
        "qaflow_answer",
        "qaflow_score",
        "start",
        "end",
        "error",
    ]
    assert values == ["Who?", "Ada.", "Ada", "1", "Ada", "0.5", "0", "3", ""]


def test_csv_refuses_passthrough_columns_outside_the_layout() -> None:
    layout = validate_csv_stream(io.BytesIO(b"question,context,id\nq,c,1\n")).layout

    with pytest.raises(InvalidInputError, match="not in the upload's header: other"):
        write_results_csv(
            [ResultRow(0, "q", "c", error="x", passthrough={"other": "1"})],
            io.StringIO(),
            layout=layout,
        )


def test_csv_of_no_rows_is_just_a_header() -> None:
    out = io.StringIO(newline="")

    assert write_results_csv([], out) == 0
    assert csv_table(out.getvalue()) == [
        ["question", "context", "answer", "score", "start", "end", "error"]
    ]


def test_parquet_then_csv_end_to_end() -> None:
    upload = b'question,context,id\r\n"Who, then?","Ada\r\nwrote it.",1\r\n,c,2\r\n'
    summary = validate_csv_stream(io.BytesIO(upload))
    results = [
        ResultRow.failed(row, row.empty_error)
        if row.empty_error
        else ResultRow.answered(row, "Ada", 0.75, 0, 3)
        for row in iter_csv_rows(io.BytesIO(upload))
    ]
    stored = io.BytesIO(parquet_bytes(results))
    out = io.StringIO(newline="")

    write_results_csv(read_results_parquet(stored), out, layout=summary.layout)

    assert csv_table(out.getvalue())[1:] == [
        ["Who, then?", "Ada\r\nwrote it.", "1", "Ada", "0.75", "0", "3", ""],
        ["", "c", "2", "", "", "", "", "The question is empty."],
    ]
