"""Validation and reading of uploaded CSV files, on hand-written bytes."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csvio import (
    READ_CHUNK_BYTES,
    CsvFormatError,
    CsvRow,
    CsvSummary,
    iter_csv_rows,
    validate_csv_stream,
)

SIMPLE = b"question,context\nWho?,Ada wrote it.\nWhen?,In 1843.\n"


class TrickleReader(io.BytesIO):
    """A source that returns at most a few bytes per read, like a slow network stream."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(3 if size is None or size < 0 else min(size, 3))


def validate(data: bytes, **options: int) -> CsvSummary:
    return validate_csv_stream(io.BytesIO(data), None, **options)


def rejection(data: bytes, **options: int) -> str:
    with pytest.raises(InvalidInputError) as caught:
        validate(data, **options)
    return caught.value.message


def rows(data: bytes, **options: int) -> list[CsvRow]:
    return list(iter_csv_rows(io.BytesIO(data), **options))


# --- accepted files ------------------------------------------------------------------------------


def test_summary_describes_a_valid_file() -> None:
    summary = validate(b"id,question,context,lang\n1,Who?,Ada.,en\n2,When?,1843.,en\n")

    assert summary.rows == 2
    assert summary.columns == ["id", "question", "context", "lang"]
    assert summary.question_column == "question"
    assert summary.context_column == "context"
    assert summary.passthrough_columns == ["id", "lang"]
    assert summary.empty_rows == 0
    assert summary.layout.columns == ("id", "question", "context", "lang")


def test_sha256_and_size_describe_the_raw_bytes_and_sink_gets_them_unchanged() -> None:
    data = b'\xef\xbb\xbfquestion,context\r\n"caf\xc3\xa9?","a,b"\r\n'
    sink = io.BytesIO()

    summary = validate_csv_stream(io.BytesIO(data), sink)

    assert summary.sha256 == hashlib.sha256(data).hexdigest()
    assert summary.size_bytes == len(data)
    assert sink.getvalue() == data


def test_short_reads_and_split_multibyte_characters_are_handled() -> None:
    data = "question,context\nWarum?,Größe ändert sich \u2014 日本語 ✓\n".encode()
    source, sink = TrickleReader(data), io.BytesIO()

    summary = validate_csv_stream(source, sink)

    assert summary.rows == 1
    assert sink.getvalue() == data
    assert not source.closed
    assert rows(data)[0].context == "Größe ändert sich \u2014 日本語 ✓"


def test_bom_is_not_part_of_the_first_column_name() -> None:
    summary = validate(b"\xef\xbb\xbfquestion,context\nq,c\n")

    assert summary.columns == ["question", "context"]


def test_crlf_and_lf_files_read_the_same() -> None:
    lf = b'question,context,note\nq1,"line one\nline two",x\nq2,c2,y\n'
    crlf = lf.replace(b"\n", b"\r\n")

    assert validate(crlf).rows == validate(lf).rows == 2
    assert [(r.question, r.passthrough) for r in rows(crlf)] == [
        (r.question, r.passthrough) for r in rows(lf)
    ]
    assert rows(crlf)[0].context == "line one\r\nline two"
    assert rows(lf)[0].context == "line one\nline two"


def test_quoted_fields_keep_commas_quotes_and_newlines() -> None:
    data = b'question,context\n"Who said ""hi, there""?","Ada said:\n""hi, there"""\n'

    (row,) = rows(data)

    assert row.question == 'Who said "hi, there"?'
    assert row.context == 'Ada said:\n"hi, there"'


@pytest.mark.parametrize(
    "header",
    [
        b"  Question ,Context",
        b"QUESTION,CONTEXT",
        b"\tquestion\t, context",
        b'"Question","context "',
    ],
)
def test_header_names_forgive_case_and_surrounding_space(header: bytes) -> None:
    summary = validate(header + b"\nq,c\n")

    assert summary.question_column.strip().lower() == "question"
    assert summary.context_column.strip().lower() == "context"


def test_original_header_names_are_kept() -> None:
    summary = validate(b"  Question ,Context,Extra \nq,c,e\n")

    assert summary.columns == ["  Question ", "Context", "Extra "]
    assert summary.question_column == "  Question "
    assert rows(b"  Question ,Context,Extra \nq,c,e\n")[0].passthrough == {"Extra ": "e"}


def test_blank_lines_are_skipped() -> None:
    data = b"\nquestion,context\n\nq1,c1\n\n   \nq2,c2\n\n"

    assert validate(data).rows == 2
    assert [r.index for r in rows(data)] == [0, 1]


def test_rows_with_empty_question_or_context_are_counted_not_rejected() -> None:
    data = b"question,context,id\n,c,1\nq, ,2\nq,c,3\n,,4\n"

    summary = validate(data)

    assert summary.rows == 4
    assert summary.empty_rows == 3
    assert [r.empty_error for r in rows(data)] == [
        "The question is empty.",
        "The context is empty.",
        None,
        "The question and the context are empty.",
    ]


# --- rejected files ------------------------------------------------------------------------------


def test_empty_file() -> None:
    assert rejection(b"") == "The file is empty."


def test_header_without_data_rows() -> None:
    assert rejection(b"question,context\n") == "The file has a header but no data rows."
    assert rejection(b"question,context\r\n\r\n\r\n") == "The file has a header but no data rows."


def test_only_blank_lines() -> None:
    assert "no header row" in rejection(b"\n\r\n  \n")


def test_missing_column_names_the_columns_found() -> None:
    assert (
        rejection(b"question,a,b\nq,1,2\n")
        == "Missing required column 'context' (found columns: question, a, b)."
    )
    assert (
        rejection(b"a,b\n1,2\n")
        == "Missing required columns 'question' and 'context' (found columns: a, b)."
    )


def test_duplicate_normalized_column_names_are_rejected() -> None:
    assert "'question'" in rejection(b"question,context, Question\nq,c,q\n")
    assert "'note'" in rejection(b"question,context,note,NOTE\nq,c,a,b\n")


def test_latin1_file_names_the_byte_and_line() -> None:
    data = "question,context\nWho?,Ada.\nWhere?,Café de Flore\n".encode("latin-1")

    assert rejection(data) == "The file is not UTF-8 text: invalid byte 0xE9 at line 3."


def test_truncated_character_at_the_end_is_rejected() -> None:
    assert rejection(b"question,context\nq,caf\xc3") == (
        "The file is not UTF-8 text: invalid byte 0xC3 at line 2."
    )


def test_invalid_byte_line_counts_across_chunks_and_quoted_newlines() -> None:
    lines = b'question,context\n"q\nstill q",c\n' + b"q,c\n" * (READ_CHUNK_BYTES // 2)
    data = lines + b"q,\xff\n"
    expected_line = data.count(b"\n")

    assert len(data) > 2 * READ_CHUNK_BYTES
    assert rejection(data) == (
        f"The file is not UTF-8 text: invalid byte 0xFF at line {expected_line}."
    )


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (b"%PDF-1.7\n%question,context\n", "a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive"),
        (b"\x1f\x8b\x08\x00", "a gzip-compressed file"),
    ],
)
def test_known_binary_formats_are_named(data: bytes, kind: str) -> None:
    message = rejection(data)

    assert message.startswith(f"The file is {kind}")
    assert "not a CSV text file" in message


def test_png_arriving_in_tiny_reads_is_still_recognised() -> None:
    with pytest.raises(InvalidInputError, match="PNG image"):
        validate_csv_stream(TrickleReader(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))


def test_utf16_files_are_told_to_convert() -> None:
    with_bom = "question,context\nq,c\n".encode("utf-16")
    without_bom = "question,context\nq,c\n".encode("utf-16-le")

    assert rejection(with_bom) == "The file is UTF-16 text; save it as UTF-8 and upload it again."
    assert "NUL byte at line 1" in rejection(without_bom)


def test_nul_byte_is_binary_with_its_line() -> None:
    assert "binary, not CSV text: it contains a NUL byte at line 3" in rejection(
        b"question,context\nq,c\nq,\x00c\n"
    )


@pytest.mark.parametrize(
    "data",
    [
        b'{"question": "Who?", "context": "Ada."}',
        b'[\n  {"question": "Who?", "context": "Ada."}\n]\n',
        b'  {"rows": [1, 2]}',
    ],
)
def test_json_documents_are_recognised(data: bytes) -> None:
    assert rejection(data).startswith("The file looks like JSON, not CSV.")


def test_html_is_recognised() -> None:
    assert rejection(b"<!DOCTYPE html><html><body>hi</body></html>").startswith(
        "The file looks like HTML or XML"
    )


def test_semicolon_separated_file_gets_a_hint() -> None:
    assert "separate values with semicolons" in rejection(b"question;context\nq;c\n")


def test_ragged_row_reports_its_physical_line() -> None:
    data = b"question,context,id\nq,c,1\nq,c,2\nq,c,3\nq,c,4\nq,c,5\nq,c,6,7\n"

    assert rejection(data) == "Line 7: expected 3 fields, found 4."


def test_embedded_newlines_and_blank_lines_shift_later_line_numbers() -> None:
    data = (
        b"question,context\r\n"  # line 1
        b'"multi\r\nline\r\nquestion",c\r\n'  # lines 2-4
        b"\r\n"  # line 5
        b"q,c,extra\r\n"  # line 6
    )

    assert rejection(data) == "Line 6: expected 2 fields, found 3."


def test_row_problems_are_collected_first_first() -> None:
    data = b"question,context\nq\nq,c\nq,c,x,y\nq,c\n"

    with pytest.raises(CsvFormatError) as caught:
        validate(data)

    assert caught.value.problems == (
        "Line 2: expected 2 fields, found 1.",
        "Line 4: expected 2 fields, found 4.",
    )
    assert caught.value.message == (
        "The file has 2 problems:\n"
        "Line 2: expected 2 fields, found 1.\n"
        "Line 4: expected 2 fields, found 4."
    )


def test_collection_stops_at_max_error_rows() -> None:
    data = b"question,context\n" + b"only-one-field\n" * 50

    with pytest.raises(CsvFormatError) as caught:
        validate(data, max_error_rows=3)

    assert len(caught.value.problems) == 3
    assert caught.value.message.startswith("The file has at least 3 problems:\nLine 2:")


def test_a_later_structural_problem_follows_the_row_problems() -> None:
    data = b'question,context\nq\nq,"c"x\n'

    with pytest.raises(CsvFormatError) as caught:
        validate(data)

    assert caught.value.problems[0] == "Line 2: expected 2 fields, found 1."
    assert caught.value.problems[1].startswith("Line 3: a closing '\"' must be followed by a comma")


def test_unclosed_quote_names_the_row_start() -> None:
    data = b'question,context\nq,c\nq,"never closed\nmore\n'

    assert rejection(data) == "Line 3: a quoted field is never closed (a closing '\"' is missing)."


def test_field_over_the_size_limit() -> None:
    data = b'question,context\nq,"' + b"0123456789\n" * 4 + b'"\n'

    assert rejection(data, max_field_chars=30) == (
        "Line 2: a field is longer than 30 characters, the most accepted "
        "(is a closing '\"' missing?)."
    )


def test_line_over_the_size_limit() -> None:
    data = b"question,context\nq," + b"x" * 100 + b"\n"

    assert rejection(data, max_field_chars=30).startswith(
        "Line 2: the line is longer than 60 characters"
    )


def test_default_field_limit_allows_long_contexts() -> None:
    context = b"word " * 400_000  # 2 MB, over csv's default limit of 128 KiB
    data = b'question,context\nq,"' + context + b'"\n'

    assert validate(data).rows == 1
    assert len(rows(data)[0].context) == len(context)


def test_max_error_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_error_rows"):
        validate(SIMPLE, max_error_rows=0)


# --- iter_csv_rows -------------------------------------------------------------------------------


def test_iter_rows_yields_indexed_rows_with_passthrough() -> None:
    data = b"id,Question,Context\n7,Who?,Ada.\n\n8,When?,1843.\n"

    assert rows(data) == [
        CsvRow(index=0, question="Who?", context="Ada.", passthrough={"id": "7"}),
        CsvRow(index=1, question="When?", context="1843.", passthrough={"id": "8"}),
    ]


def test_shards_cover_every_row_exactly_once() -> None:
    data = b"question,context\n" + b"".join(b'"q%d\nq",c%d\n' % (i, i) for i in range(10))

    shards = [rows(data, start=start, stop=start + 3) for start in range(0, 10, 3)]

    assert [row.index for shard in shards for row in shard] == list(range(10))
    assert [row.context for row in shards[1]] == ["c3", "c4", "c5"]
    assert rows(data, start=8) == rows(data)[8:]
    assert rows(data, start=4, stop=4) == []
    assert rows(data, start=20) == []


def test_iteration_stops_at_stop_without_parsing_further() -> None:
    data = b"question,context\nq,c\nq,c\nbroken row,with,three\n"

    assert len(rows(data, stop=2)) == 2
    with pytest.raises(InvalidInputError, match="Line 4: expected 2 fields, found 3"):
        rows(data)


def test_iter_rows_leaves_the_source_open() -> None:
    source = io.BytesIO(SIMPLE)

    assert len(list(iter_csv_rows(source))) == 2
    assert not source.closed


def test_invalid_range_is_refused_at_call_time() -> None:
    with pytest.raises(ValueError, match="row range"):
        iter_csv_rows(io.BytesIO(SIMPLE), start=3, stop=1)


def test_iter_rows_rejects_bad_bytes_with_line() -> None:
    with pytest.raises(InvalidInputError, match="invalid byte 0xE9 at line 2"):
        rows(b"question,context\ncaf\xe9,c\n")


# --- large files ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_large_file_is_validated_in_bounded_memory(tmp_path: Path) -> None:
    upload, copy = tmp_path / "upload.csv", tmp_path / "copy.csv"
    row = b'"What, exactly?","' + b'A long context with ""quotes"" and words. ' * 25 + b'",x\n'
    digest = hashlib.sha256()
    with upload.open("wb") as out:
        out.write(b"question,context,tag\n")
        digest.update(b"question,context,tag\n")
        while out.tell() < 50 * 1024 * 1024:
            out.write(row * 100)
            digest.update(row * 100)
    size = upload.stat().st_size

    tracemalloc.start()
    try:
        with upload.open("rb") as source, copy.open("wb") as sink:
            summary = validate_csv_stream(source, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.size_bytes == size
    assert summary.sha256 == digest.hexdigest()
    assert summary.rows == (size - len(b"question,context,tag\n")) // len(row)
    assert copy.stat().st_size == size
    assert peak < size // 10
