from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import AnswerRecord, AnswerSource, upsert_answers
from qaflow.errors import InvalidInputError


def _batch_row(row_index: int, datum_id: str = "datum-1", **fields: Any) -> dict[str, Any]:
    return {
        "model_name": "distilled-bert",
        "question": f"question {row_index}?",
        "context": "some context",
        "answer": "an answer",
        "score": 0.5,
        "start_char": 0,
        "end_char": 2,
        "source": AnswerSource.BATCH,
        "upload_id": "upload-1",
        "job_id": "job-1",
        "datum_id": datum_id,
        "row_index": row_index,
        "input_sha256": "0" * 64,
        "output_commit_id": "commit-1",
        "pipeline_name": "qa",
        "pipeline_version": 1,
        "model_ref": "distilbert-base-uncased-distilled-squad",
        "extra_json": '{"id": "x"}',
        **fields,
    }


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AnswerRecord)) or 0


def test_upsert_twice_inserts_once(session_factory: sessionmaker[Session]) -> None:
    rows = [_batch_row(index) for index in range(5)]
    with session_factory.begin() as session:
        assert upsert_answers(session, rows) == 5
    with session_factory.begin() as session:
        assert upsert_answers(session, rows) == 0
    with session_factory() as session:
        assert _count(session) == 5
        stored = session.scalars(select(AnswerRecord).order_by(AnswerRecord.row_index)).all()
    assert [record.row_index for record in stored] == list(range(5))
    assert stored[0].created_at.tzinfo is UTC
    assert stored[0].source is AnswerSource.BATCH


def test_partially_new_batch_inserts_only_the_new_rows(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        upsert_answers(session, [_batch_row(0), _batch_row(1)])
    with session_factory.begin() as session:
        inserted = upsert_answers(
            session,
            [
                _batch_row(1),
                _batch_row(2),
                _batch_row(0, datum_id="datum-2", input_sha256="1" * 64),
            ],
        )
    assert inserted == 2


def test_a_row_answered_again_in_another_shard_is_stored_once(
    session_factory: sessionmaker[Session],
) -> None:
    # shard_rows changed: the same rows of the same content come back under new datum ids.
    with session_factory.begin() as session:
        upsert_answers(session, [_batch_row(0), _batch_row(1)])
    with session_factory.begin() as session:
        resharded = [_batch_row(n, datum_id="datum-b") for n in (0, 1, 2)]
        assert upsert_answers(session, resharded) == 1
    with session_factory.begin() as session:
        next_version = [_batch_row(n, datum_id="datum-c", pipeline_version=2) for n in (0, 1)]
        assert upsert_answers(session, next_version) == 2


def test_duplicates_within_one_call_are_inserted_once(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assert upsert_answers(session, [_batch_row(0), _batch_row(0)]) == 1


def test_rows_without_datum_are_always_inserted(session_factory: sessionmaker[Session]) -> None:
    online = {
        "model_name": "distilled-bert",
        "question": "q?",
        "context": "c",
        "answer": "a",
        "source": AnswerSource.ONLINE,
    }
    with session_factory.begin() as session:
        assert upsert_answers(session, [online, online]) == 2
        assert upsert_answers(session, [online]) == 1
        assert _count(session) == 3


def test_rows_with_different_fields_and_error_rows(session_factory: sessionmaker[Session]) -> None:
    failed = _batch_row(1, answer="", score=None, start_char=None, error="context is empty")
    del failed["extra_json"]
    explicit_time = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with session_factory.begin() as session:
        assert upsert_answers(session, [_batch_row(0, created_at=explicit_time), failed]) == 2
    with session_factory() as session:
        by_index = {r.row_index: r for r in session.scalars(select(AnswerRecord))}
    assert by_index[0].created_at == explicit_time
    assert by_index[1].error == "context is empty"
    assert by_index[1].extra_json is None


def test_empty_input_inserts_nothing(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        assert upsert_answers(session, []) == 0


def test_unknown_field_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session, pytest.raises(InvalidInputError, match="colour"):
        upsert_answers(session, [_batch_row(0, colour="blue")])


def test_constraint_violation_is_invalid_input(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session, pytest.raises(InvalidInputError, match="constraint"):
        upsert_answers(session, [_batch_row(0, question=None)])
