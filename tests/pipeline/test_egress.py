"""The egress: every output row lands in SQL exactly once, however often it runs."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from qaflow.db import AnswerRecord, Commit
from qaflow.pipeline.egress import push_answers_to_sql
from qaflow.services import pipeline_service
from qaflow.services.runtime import Runtime
from tests.pipeline.pipeline_support import question_csv, run_pass, stored_answers, upload


def _rows(runtime: Runtime) -> list[tuple[object, ...]]:
    return [
        (a.datum_id, a.row_index, a.question, a.answer, a.start_char, a.error, a.job_id)
        for a in stored_answers(runtime)
    ]


def _egress(runtime: Runtime) -> tuple[int, int]:
    report = push_answers_to_sql(session_factory=runtime.sessions, store=runtime.store)
    return report.commits, report.inserted


def test_a_rerun_inserts_only_what_is_missing(runtime: Runtime) -> None:
    upload(runtime, question_csv(10, blank_questions=[7]))
    assert run_pass(runtime).inserted_rows == 10
    complete = _rows(runtime)

    assert _egress(runtime) == (0, 0)

    # A crash after some rows were written and before the commit was marked egressed.
    with runtime.sessions() as session:
        lost = list(session.scalars(select(AnswerRecord.id).where(AnswerRecord.row_index >= 6)))
        session.execute(delete(AnswerRecord).where(AnswerRecord.id.in_(lost)))
        session.execute(update(Commit).values(egressed_at=None))
        session.commit()
    assert _egress(runtime) == (1, 4)
    assert _rows(runtime) == complete

    with runtime.sessions() as session:
        session.execute(update(Commit).values(egressed_at=None))
        session.commit()
    assert _egress(runtime) == (1, 0)
    assert _rows(runtime) == complete


def test_identical_uploads_are_answered_once_and_both_have_their_results(
    runtime: Runtime,
) -> None:
    data = question_csv(6)
    first = upload(runtime, data)
    assert run_pass(runtime).inserted_rows == 6
    second = upload(runtime, data, filename="again.csv")

    report = run_pass(runtime)

    # The second job (over the repo's HEAD: both files) finds every datum already done under
    # this pipeline version: nothing is recomputed and the answers table keeps one row per
    # (datum, row), the first upload's.
    assert [(job.state, job.total, job.processed, job.skipped) for job in report.jobs] == [
        ("done", 2, 0, 2)
    ]
    assert report.inserted_rows == 0
    rows = stored_answers(runtime)
    assert [(r.upload_id, r.row_index) for r in rows] == [(first.id, i) for i in range(6)]
    assert {r.input_sha256 for r in rows} == {second.sha256}
    with runtime.sessions() as session:
        results = [
            pipeline_service.upload_results(session=session, upload_id=u.id)
            for u in (first, second)
        ]
    assert results[0].blobs == results[1].blobs
    assert [r.total_rows for r in results] == [6, 6]


def test_identical_uploads_in_one_pass_are_answered_once(runtime: Runtime) -> None:
    data = question_csv(5)
    uploads = [upload(runtime, data), upload(runtime, data, filename="again.csv")]

    report = run_pass(runtime)

    assert report.inserted_rows == 5
    assert [r.row_index for r in stored_answers(runtime)] == list(range(5))
    with runtime.sessions() as session:
        for item in uploads:
            results = pipeline_service.upload_results(session=session, upload_id=item.id)
            assert results.total_rows == 5
