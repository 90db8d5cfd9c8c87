"""The egress: every output row lands in SQL exactly once, however often it runs."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from qaflow.db import AnswerRecord, Commit
from qaflow.pipeline.egress import push_answers_to_sql
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
