"""The sparse row index: exact byte offsets from validation, shard reads that seek with it."""

from __future__ import annotations

import csv
import io
import logging
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csvio import CsvRow, iter_csv_rows, validate_csv_stream
from qaflow.pipeline.row_index import (
    ROW_INDEX_EVERY,
    RowIndex,
    load_row_index,
    store_row_index,
)
from qaflow.storage import ObjectStore, open_store_url
from qaflow.versioning.blobs import blob_key, row_index_key
from tests.support.gcs_emulator import GcsServer
from tests.support.seaweed import S3Server

SHA = "ab" * 32
BOM = b"\xef\xbb\xbf"


class CountingReader(io.RawIOBase):
    """A seekable source over bytes that counts the bytes it hands out."""

    def __init__(self, data: bytes, *, seekable: bool = True) -> None:
        super().__init__()
        self._inner = io.BytesIO(data)
        self._seekable = seekable
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._inner.readinto(buffer)
        self.bytes_read += count
        return count


def make_csv(
    rng: random.Random, rows: int, *, bom: bool, newline: str, passthrough: bool
) -> tuple[bytes, list[list[str]]]:
    """A CSV with awkward fields (quoted newlines and commas, quotes, multibyte text, blanks)."""
    pieces = [
        "plain",
        "a, comma",
        'say ""hi""',
        "two\nlines",
        "\u00e9t\u00e9 \u2014 \u65e5\u672c",
        "🙂",
    ]
    header = ["id", "Question", "context", "note"] if passthrough else ["question", "Context"]
    expected: list[list[str]] = []
    lines = [",".join(header)]
    for number in range(rows):
        question = f"q{number} {rng.choice(pieces)}"
        context = f"c{number} {rng.choice(pieces)} {rng.choice(pieces)}"
        fields = (
            [str(number), question, context, rng.choice(pieces)]
            if passthrough
            else [
                question,
                context,
            ]
        )
        expected.append([field.replace('""', '"') for field in fields])
        lines.append(
            ",".join(f'"{field}"' if rng.random() < 0.7 else _bare(field) for field in fields)
        )
        if rng.random() < 0.05:
            lines.append("")  # blank lines are skipped, not rows
    text = newline.join(lines) + newline
    return (BOM if bom else b"") + text.encode(), expected


def _bare(field: str) -> str:
    return f'"{field}"' if any(char in field for char in ',"\n') else field


def read(data: bytes, index: RowIndex | None = None, **options: int) -> list[CsvRow]:
    return list(iter_csv_rows(io.BytesIO(data), index=index, **options))


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("passthrough", [False, True])
def test_rows_read_with_the_index_equal_rows_read_without_it(
    bom: bool, newline: str, passthrough: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(f"{bom}{newline!r}{passthrough}")
    data, expected = make_csv(rng, 60, bom=bom, newline=newline, passthrough=passthrough)
    full = read(data)
    assert len(full) == 60
    assert [row.question for row in full] == [
        fields[-3 if passthrough else 0] for fields in expected
    ]

    for every in (1, 3, 7, 1000):
        index = validate_csv_stream(io.BytesIO(data), row_index_every=every).row_index
        assert len(index.offsets) == -(-60 // every)
        pairs = [(0, None), (0, 60), (59, 60), (60, 61), (61, 99), (5, 5)]
        pairs += [(start, start + rng.randint(0, 20)) for start in rng.sample(range(60), 15)]
        for start, stop in pairs:
            expected_rows = full[start:stop]
            assert read(data, index, start=start, stop=stop) == expected_rows, (every, start, stop)
    assert "does not match" not in caplog.text  # the index was used, never fallen back from


def test_offsets_are_exact_bytes_with_bom_crlf_multibyte_and_quoted_newlines() -> None:
    header = BOM + b"question,context\r\n"
    row0 = '"Wer?","Gr\u00f6\u00dfe\r\nzwei Zeilen"\r\n'.encode()
    blank = b"\r\n"
    row1 = "q,\u65e5\u672c\u8a9e \U0001f642\r\n".encode()
    row2 = b'"a, b","c ""d"""\r\n'
    data = header + row0 + blank + row1 + row2

    index = validate_csv_stream(io.BytesIO(data), row_index_every=1).row_index

    assert index.header_end == len(header)
    assert index.offsets == (
        len(header),
        len(header + row0 + blank),
        len(header + row0 + blank + row1),
    )
    assert index.lines == (2, 5, 6)
    assert index.columns == ("question", "context")


def test_reading_the_last_shard_seeks_instead_of_reading_the_file() -> None:
    rows = 20_000
    data = b"id,question,context\n" + b"".join(
        b'%d,"Who wrote program %d?","Ada wrote it,\nin 1843."\n' % (n, n) for n in range(rows)
    )
    index = validate_csv_stream(io.BytesIO(data), row_index_every=ROW_INDEX_EVERY).row_index

    indexed, full = CountingReader(data), CountingReader(data)
    last = list(iter_csv_rows(indexed, start=rows - 1000, stop=rows, index=index))  # type: ignore[arg-type]
    whole = list(iter_csv_rows(full, start=rows - 1000, stop=rows))  # type: ignore[arg-type]

    assert last == whole
    assert [row.index for row in last] == list(range(rows - 1000, rows))
    assert full.bytes_read == len(data)
    assert indexed.bytes_read < len(data) // 10


def test_a_source_that_cannot_seek_is_read_from_its_start() -> None:
    data, _ = make_csv(random.Random(1), 30, bom=True, newline="\r\n", passthrough=True)
    index = validate_csv_stream(io.BytesIO(data), row_index_every=4).row_index
    source = CountingReader(data, seekable=False)

    got = list(iter_csv_rows(source, start=20, stop=25, index=index))  # type: ignore[arg-type]

    assert got == read(data, start=20, stop=25)
    assert source.bytes_read > 0


@pytest.mark.parametrize(
    "break_index",
    [
        lambda index: replace(index, columns=("question", "other")),
        lambda index: replace(index, header_end=index.header_end - 3),
        lambda index: replace(index, offsets=tuple(offset + 1 for offset in index.offsets)),
    ],
    ids=["columns", "header_end", "offsets"],
)
def test_an_index_that_does_not_fit_the_file_is_ignored(
    break_index: object, caplog: pytest.LogCaptureFixture
) -> None:
    data = b"question,context\n" + b"".join(b"q%d,c%d\n" % (n, n) for n in range(20))
    index = validate_csv_stream(io.BytesIO(data), row_index_every=5).row_index
    wrong = break_index(index)  # type: ignore[operator]
    source = io.BytesIO(data)

    with caplog.at_level(logging.WARNING):
        got = list(iter_csv_rows(source, start=12, stop=14, index=wrong))

    assert got == read(data, start=12, stop=14)
    assert "does not match" in caplog.text


def test_row_errors_after_a_seek_name_the_same_line_as_a_full_read() -> None:
    good = b"question,context\n" + b"".join(b'"q\n%d",c%d\n' % (n, n) for n in range(10, 30))
    index = validate_csv_stream(io.BytesIO(good), row_index_every=4).row_index
    bad = good.replace(b",c25\n", b",,25\n")  # same length: the offsets still hold
    assert len(bad) == len(good)

    messages = []
    for given in (index, None):
        with pytest.raises(InvalidInputError) as caught:
            read(bad, given, start=14, stop=18)
        messages.append(caught.value.message)

    assert messages[0] == messages[1] == "Line 32: expected 2 fields, found 3."


def test_a_bad_header_is_reported_as_in_a_full_read() -> None:
    good = b"question,context\nq,c\nq,c\n"
    index = validate_csv_stream(io.BytesIO(good), row_index_every=1).row_index

    with pytest.raises(InvalidInputError, match="Missing required column 'context'"):
        read(b"question,kontext\nq,c\nq,c\n", index, start=1)


# --- the stored sidecar --------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store_url(str(tmp_path / "storage"))


@pytest.fixture(
    params=[
        "local",
        pytest.param("s3", marks=pytest.mark.integration),
        pytest.param("gcs", marks=pytest.mark.integration),
    ]
)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield open_store_url(str(tmp_path / "storage"))
        return
    server: S3Server | GcsServer = request.getfixturevalue(f"{request.param}_server")
    opened = open_store_url(f"{server.url}/t-{uuid.uuid4().hex}", options=server.storage_options())
    yield opened
    for info in list(opened.list()):
        opened.delete(info.key)


def test_shards_read_from_a_store_stream_seek_with_the_stored_index(
    any_store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    data, _ = make_csv(random.Random(3), 3000, bom=True, newline="\r\n", passthrough=True)
    summary = validate_csv_stream(io.BytesIO(data), row_index_every=100)
    any_store.put_bytes(blob_key(summary.sha256), data)
    store_row_index(any_store, summary.sha256, summary.row_index)
    index = load_row_index(any_store, summary.sha256)
    assert index == summary.row_index

    for start, stop in [(0, 50), (1234, 1300), (2950, 3000), (2999, 3500)]:
        with any_store.open_read(blob_key(summary.sha256)) as source:
            got = list(iter_csv_rows(source, start=start, stop=stop, index=index))
        assert got == read(data, start=start, stop=stop)
    assert "does not match" not in caplog.text


def test_the_index_round_trips_through_the_store_and_is_never_overwritten(
    store: ObjectStore,
) -> None:
    data, _ = make_csv(random.Random(2), 25, bom=False, newline="\n", passthrough=True)
    index = validate_csv_stream(io.BytesIO(data), row_index_every=10).row_index
    other = validate_csv_stream(io.BytesIO(data), row_index_every=3).row_index

    assert store_row_index(store, SHA, index) is True
    assert store_row_index(store, SHA, other) is False

    assert load_row_index(store, SHA) == index
    assert row_index_key(SHA) == f"derived/csv-row-index/v1/ab/{SHA}.json"


def test_a_missing_index_loads_as_none(store: ObjectStore) -> None:
    assert load_row_index(store, SHA) is None


@pytest.mark.parametrize(
    "stored",
    [
        b"not json",
        b"[]",
        b'{"format": 99}',
        b'{"format": 1, "every": 2, "header_end": 5, "columns": ["q"], '
        b'"offsets": [9, 7], "lines": [2, 3]}',
        b'{"format": 1, "every": true, "header_end": 5, "columns": ["q"], '
        b'"offsets": [9], "lines": [2]}',
    ],
    ids=["garbage", "array", "format", "decreasing", "bool"],
)
def test_an_unreadable_index_loads_as_none_with_a_warning(
    store: ObjectStore, stored: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store.put_bytes(row_index_key(SHA), stored)

    with caplog.at_level(logging.WARNING):
        assert load_row_index(store, SHA) is None

    assert "ignoring the row index" in caplog.text


def test_the_index_of_a_large_csv_stays_small() -> None:
    rows = 5000
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["question", "context"])
    writer.writerows([f"q{n}", f"c{n}"] for n in range(rows))

    index = validate_csv_stream(io.BytesIO(buffer.getvalue().encode())).row_index

    assert index.every == ROW_INDEX_EVERY
    assert len(index.offsets) == rows // ROW_INDEX_EVERY
    assert len(index.to_json()) < 300
