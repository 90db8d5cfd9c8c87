from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import AnswerRecord, AnswerSource, ModelBackend, ModelEntry

PLUS_TWO = timezone(timedelta(hours=2))


def _answer(**fields: object) -> AnswerRecord:
    values: dict[str, object] = {
        "model_name": "distilled-bert",
        "question": "Who?",
        "context": "Ada wrote it.",
        "answer": "Ada",
        "source": AnswerSource.ONLINE,
    }
    return AnswerRecord(**(values | fields))


def test_enums_are_stored_as_their_values(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(ModelEntry(name="m", tokenizer="t", model="w", backend=ModelBackend.ONNX_INT8))
        session.add(_answer(source=AnswerSource.BATCH))
    with session_factory() as session:
        assert session.execute(text("SELECT backend FROM models")).scalar() == "onnx-int8"
        assert session.execute(text("SELECT source FROM answers")).scalar() == "batch"
        entry = session.scalars(select(ModelEntry)).one()
        assert entry.backend is ModelBackend.ONNX_INT8
        assert session.scalars(select(AnswerRecord)).one().source is AnswerSource.BATCH


def test_invalid_enum_value_is_rejected_by_orm(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(ModelEntry(name="m", tokenizer="t", model="w", backend="tensorflow"))
        with pytest.raises(sa_exc.StatementError, match="tensorflow"):
            session.flush()


def test_invalid_enum_value_is_rejected_by_database(
    session_factory: sessionmaker[Session],
) -> None:
    insert = text(
        "INSERT INTO answers (created_at, model_name, question, context, answer, source) "
        "VALUES (CURRENT_TIMESTAMP, 'm', 'q', 'c', 'a', 'telepathy')"
    )
    with session_factory() as session, pytest.raises(sa_exc.IntegrityError):
        session.execute(insert)


def test_model_defaults(session_factory: sessionmaker[Session]) -> None:
    before = datetime.now(UTC)
    with session_factory.begin() as session:
        session.add(ModelEntry(name="m", tokenizer="t", model="w"))
        session.execute(
            text(
                "INSERT INTO models (name, tokenizer, model, created_at) "
                "VALUES ('raw', 't', 'w', CURRENT_TIMESTAMP)"
            )
        )
    with session_factory() as session:
        entries = {e.name: e for e in session.scalars(select(ModelEntry))}
    assert entries["m"].backend is ModelBackend.TORCH
    assert entries["raw"].backend is ModelBackend.TORCH  # server default
    assert entries["m"].created_at.tzinfo is UTC
    assert entries["m"].created_at >= before


def test_model_names_are_unique(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(ModelEntry(name="m", tokenizer="t", model="w"))
    with session_factory() as session:
        session.add(ModelEntry(name="m", tokenizer="t2", model="w2"))
        with pytest.raises(sa_exc.IntegrityError):
            session.flush()


def test_a_batch_row_is_unique_per_input_content_but_nulls_do_not_collide(
    session_factory: sessionmaker[Session],
) -> None:
    row = {"source": AnswerSource.BATCH, "pipeline_name": "qa", "pipeline_version": 1}
    with session_factory.begin() as session:
        session.add_all([_answer(), _answer()])  # online: no pipeline, content or row
        session.add(_answer(**row, datum_id="d1", input_sha256="a" * 64, row_index=0))
        # Another file's content sharing the datum stores its own copy of the row.
        session.add(_answer(**row, datum_id="d1", input_sha256="b" * 64, row_index=0))
    with session_factory() as session:
        session.add(_answer(**row, datum_id="d2", input_sha256="a" * 64, row_index=0))
        with pytest.raises(sa_exc.IntegrityError):
            session.flush()


def test_timestamps_round_trip_as_aware_utc(session_factory: sessionmaker[Session]) -> None:
    local = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=PLUS_TWO)
    with session_factory.begin() as session:
        session.add(_answer(created_at=local))
        session.add(_answer(created_at=local + timedelta(days=1)))
    with session_factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            # PostgreSQL returns timestamptz in the session's zone; it must still come back UTC.
            session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        stored = session.scalars(
            select(AnswerRecord.created_at).order_by(AnswerRecord.created_at)
        ).all()
        # Comparisons bind through the same type, so an aware bound in any zone works.
        later = session.scalars(
            select(AnswerRecord.created_at).where(
                AnswerRecord.created_at > datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
            )
        ).all()
    assert stored[0] == datetime(2024, 3, 1, 10, 30, 15, 123456, tzinfo=UTC)
    assert all(value.tzinfo is UTC for value in stored)
    assert later == [stored[1]]


def test_naive_timestamp_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add(_answer(created_at=datetime(2024, 3, 1, 12, 0)))
        with pytest.raises(sa_exc.StatementError, match="naive datetime"):
            session.flush()
