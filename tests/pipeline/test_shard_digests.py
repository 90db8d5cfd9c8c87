"""Shard digests: equal exactly where two files share a shard's bytes under the same header."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from qaflow.db import AnswerRecord, Commit, Datum, DatumState, PipelineVersion, ShardDigest
from qaflow.pipeline.csvio import validate_csv_stream
from qaflow.pipeline.datums import DatumRef, datum_id
from qaflow.pipeline.planning import preferred
from qaflow.pipeline.row_index import load_row_index, store_row_index
from qaflow.pipeline.shard_digests import (
    compute_digests,
    ensure_digests,
    known_digests,
    shard_ranges,
)
from qaflow.services import pipeline_service
from qaflow.services.runtime import Runtime
from qaflow.services.upload_schemas import UploadPublic
from qaflow.storage import ObjectStore, open_store_url
from qaflow.versioning import blob_key
from qaflow.versioning.blobs import row_index_key
from tests.pipeline.pipeline_support import (
    question_csv,
    run_pass,
    stored_answers,
    update_pipeline,
    upload,
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store_url(str(tmp_path / "bucket"))


def _put(store: ObjectStore, data: bytes, *, indexed: bool = True, every: int = 1000) -> str:
    """Store ``data`` as a blob, with the row index an upload leaves beside it when ``indexed``."""
    summary = validate_csv_stream(io.BytesIO(data), row_index_every=every)
    store.put_bytes(blob_key(summary.sha256), data)
    if indexed:
        store_row_index(store, summary.sha256, summary.row_index)
    return summary.sha256


def _digests(store: ObjectStore, data: bytes, shard_rows: int, **put: object) -> list[str]:
    sha = _put(store, data, **put)  # type: ignore[arg-type]
    rows = validate_csv_stream(io.BytesIO(data)).rows
    return compute_digests(store, sha, shard_ranges(rows, shard_rows))


def test_shard_ranges_cover_the_rows_once() -> None:
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(8, 4) == [(0, 4), (4, 8)]
    assert shard_ranges(3, 4) == [(0, 3)]


def test_a_digest_hashes_the_header_and_the_shards_bytes(store: ObjectStore) -> None:
    data = b"question,context\nq0,c0\nq1,c1\n\nq2,c2"
    header = hashlib.sha256(b"question,context\n").digest()

    digests = _digests(store, data, 2)

    # The blank line after row 1 belongs to the first shard; the last shard runs to the end.
    assert digests == [
        hashlib.sha256(header + b"q0,c0\nq1,c1\n\n").hexdigest(),
        hashlib.sha256(header + b"q2,c2").hexdigest(),
    ]


def test_appended_rows_keep_the_digests_of_the_full_shards(store: ObjectStore) -> None:
    before = _digests(store, question_csv(10), 4)
    after = _digests(store, question_csv(10) + question_csv(5, first=10).split(b"\n", 1)[1], 4)

    assert len(before) == 3
    assert len(after) == 4
    assert after[:2] == before[:2]
    assert after[2] != before[2]  # rows 8-9 were the old last shard; now it holds 8-11


def test_an_edited_row_changes_only_its_shards_digest(store: ObjectStore) -> None:
    data = question_csv(12)
    edited = data.replace(b"Who wrote program 5?", b"Who wrote program five?")

    before, after = _digests(store, data, 4), _digests(store, edited, 4)

    assert [a == b for a, b in zip(before, after, strict=True)] == [True, False, True]


def test_another_header_changes_every_digest(store: ObjectStore) -> None:
    data = question_csv(8)
    renamed = data.replace(b"id,question,context", b"key,question,context", 1)

    before, after = _digests(store, data, 4), _digests(store, renamed, 4)

    assert not set(before) & set(after)


@pytest.mark.parametrize("shard_rows", [1000, 700, 2500])
def test_the_row_index_and_a_fresh_parse_give_the_same_digests(
    tmp_path: Path, shard_rows: int
) -> None:
    # 1000 and 2500 (one shard) start where the stored index (every 1000 rows) has offsets;
    # 700 does not, so its digests come from a parse. Quoted newlines make rows span lines.
    lines = ["question,context", *(f'q{n},"line one\nline two {n}"' for n in range(2345))]
    data = ("\r\n".join(lines) + "\r\n").encode()
    ranges = shard_ranges(2345, shard_rows)

    with_index = open_store_url(str(tmp_path / "indexed"))
    without_index = open_store_url(str(tmp_path / "plain"))

    indexed = compute_digests(with_index, _put(with_index, data), ranges)
    parsed = compute_digests(without_index, _put(without_index, data, indexed=False), ranges)

    assert indexed == parsed
    assert len(set(indexed)) == len(ranges)


def test_digests_are_computed_once_and_kept(runtime: Runtime) -> None:
    data = question_csv(10)
    uploaded = upload(runtime, data)

    with runtime.sessions() as session:
        first = ensure_digests(
            session=session, store=runtime.store, blobs={uploaded.sha256: 10}, shard_rows=4
        )
    runtime.store.delete(blob_key(uploaded.sha256))  # a second computation would fail now
    with runtime.sessions() as session:
        again = ensure_digests(
            session=session, store=runtime.store, blobs={uploaded.sha256: 10}, shard_rows=4
        )
        kept = known_digests(session, [uploaded.sha256])

    assert sorted(first) == [(uploaded.sha256, a, b) for a, b in [(0, 4), (4, 8), (8, 10)]]
    assert again == first == kept


def test_a_missing_or_damaged_blob_gets_no_digests_and_the_others_do(runtime: Runtime) -> None:
    missing = upload(runtime, question_csv(6))
    damaged = upload(runtime, question_csv(6, first=10), "damaged.csv")
    good = upload(runtime, question_csv(6, first=20), "good.csv")
    runtime.store.delete(blob_key(missing.sha256))
    data = runtime.store.get_bytes(blob_key(damaged.sha256))
    runtime.store.put_bytes(blob_key(damaged.sha256), data[: len(data) // 3])  # cut short

    with runtime.sessions() as session:
        digests = ensure_digests(
            session=session,
            store=runtime.store,
            blobs={missing.sha256: 6, damaged.sha256: 6, good.sha256: 6},
            shard_rows=4,
        )

    assert {sha for sha, _, _ in digests} == {good.sha256}


def test_a_row_index_that_does_not_fit_its_blob_is_not_trusted(tmp_path: Path) -> None:
    data = question_csv(3000)
    ranges = shard_ranges(3000, 1000)
    plain = open_store_url(str(tmp_path / "plain"))
    expected = compute_digests(plain, _put(plain, data, indexed=False), ranges)
    store = open_store_url(str(tmp_path / "bucket"))
    sha = _put(store, data)
    index = load_row_index(store, sha)
    assert index is not None
    shifted = [offset + 3 for offset in index.offsets]  # mid-row: no line break before them
    store.put_bytes(row_index_key(sha), replace(index, offsets=tuple(shifted)).to_json())

    assert compute_digests(store, sha, ranges) == expected


def _processed_before_shard_digests(runtime: Runtime, data: bytes) -> UploadPublic:
    """An upload of ``data``, answered and egressed by a qaflow without shard digests."""
    uploaded = upload(runtime, data)
    run_pass(runtime)
    _as_before_shard_digests(runtime)
    return uploaded


def _as_before_shard_digests(runtime: Runtime) -> None:
    """Rewrite the database as a qaflow without shard digests left it: datums keyed by file."""
    with runtime.sessions() as session:
        version = session.scalars(select(PipelineVersion)).one()
        renamed = {
            datum.id: datum_id(
                version.spec_hash, datum.blob_sha256, datum.shard_start, datum.shard_stop, {}
            )
            for datum in session.scalars(select(Datum))
        }
        for old, new in renamed.items():
            session.execute(update(Datum).where(Datum.id == old).values(id=new))
            session.execute(
                update(AnswerRecord).where(AnswerRecord.datum_id == old).values(datum_id=new)
            )
        session.execute(delete(ShardDigest))
        session.commit()


def test_datums_from_before_shard_digests_still_count(runtime: Runtime) -> None:
    data = question_csv(10)
    first = _processed_before_shard_digests(runtime, data)

    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=first.id)
    assert (status.state, status.datums_total, status.datums_done) == ("done", 3, 3)

    # The same bytes again are digested now, yet find the work keyed by their file.
    again = upload(runtime, data, "again.csv")
    report = run_pass(runtime)

    assert [(job.processed, job.skipped) for job in report.jobs] == [(0, 3)]
    assert [a.row_index for a in stored_answers(runtime)] == list(range(10))
    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=again.id)
        digest_keyed = session.scalars(select(ShardDigest)).all()
    assert (status.state, status.datums_total, status.datums_done) == ("done", 3, 3)
    assert len(digest_keyed) == 3


def test_a_commit_from_before_shard_digests_is_egressed_under_its_own_datums(
    runtime: Runtime,
) -> None:
    data = question_csv(10)
    _processed_before_shard_digests(runtime, data)
    with runtime.sessions() as session:  # its answers not in SQL yet at the upgrade
        commit = session.scalars(select(Commit).where(Commit.job_id.is_not(None))).one()
        session.execute(delete(AnswerRecord))
        session.execute(update(Commit).where(Commit.id == commit.id).values(egressed_at=None))
        session.commit()

    upload(runtime, data, "again.csv")  # the same bytes: their job digests the blob first
    run_pass(runtime)

    rows = [a for a in stored_answers(runtime) if a.output_commit_id == commit.id]
    assert len(rows) == 10
    with runtime.sessions() as session:
        made = {d.id: d.job_id for d in session.scalars(select(Datum))}
    # Each row names a datum of the job that wrote the commit (its own, or its alias).
    assert {made.get(a.datum_id or "") for a in rows} == {commit.job_id}


def test_a_datum_without_a_digest_keeps_the_id_earlier_versions_gave_it() -> None:
    assert datum_id("spec", "blob", 0, 4, {}) == hashlib.sha256(b"spec:blob:0:4").hexdigest()
    assert datum_id("spec", "blob", 0, 4, {("blob", 0, 4): "d"}) != datum_id(
        "spec", "blob", 0, 4, {}
    )


def test_an_upload_from_before_shard_digests_keeps_its_progress_when_shard_rows_changes(
    runtime: Runtime,
) -> None:
    first = _processed_before_shard_digests(runtime, question_csv(10))
    with runtime.sessions() as session:  # digested since, as a later job over its bytes does
        ensure_digests(session=session, store=runtime.store, blobs={first.sha256: 10}, shard_rows=4)
    update_pipeline(runtime, shard_rows=3)

    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=first.id)

    # Read from the datums its own job made, keyed by the file's hash.
    assert (status.state, status.datums_total, status.datums_done) == ("done", 3, 3)


def test_a_file_from_before_shard_digests_shares_its_shards_once_it_has_run_again(
    runtime: Runtime,
) -> None:
    data = question_csv(10)
    _processed_before_shard_digests(runtime, data)
    upload(runtime, data, "again.csv")  # its finished datums get digest-keyed aliases
    run_pass(runtime)

    appended = data + question_csv(5, first=10).split(b"\n", 1)[1]
    upload(runtime, appended, "appended.csv")
    report = run_pass(runtime)

    assert [(job.total, job.processed, job.skipped) for job in report.jobs] == [(4, 2, 2)]


def _datum(datum_id: str, state: DatumState) -> Datum:
    return Datum(id=datum_id, state=state)


@pytest.mark.parametrize(
    ("content", "by_file", "chosen"),
    [
        (None, None, "content"),
        (None, DatumState.RUNNING, "by-file"),  # a job interrupted by the upgrade
        (DatumState.FAILED, DatumState.DONE, "by-file"),
        (DatumState.PENDING, DatumState.DONE, "by-file"),
        (DatumState.DONE, DatumState.DONE, "content"),
        (DatumState.FAILED, DatumState.FAILED, "content"),
    ],
)
def test_the_datum_with_the_work_is_preferred(
    content: DatumState | None, by_file: DatumState | None, chosen: str
) -> None:
    ref = DatumRef("content", "a/b.csv", "0" * 64, 0, 4)
    datums = {
        key: _datum(key, state)
        for key, state in (("content", content), ("by-file", by_file))
        if state is not None
    }

    [picked] = preferred([ref], {"content": "by-file"}, datums)

    assert picked.id == chosen
    assert (picked.path, picked.start, picked.stop) == ("a/b.csv", 0, 4)
