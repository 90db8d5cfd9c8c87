"""Group commit of online answers: each caller gets its own stored row, concurrent ones share a
transaction, and a database failure reaches every caller of the failed group."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import AnswerRecord, create_db_engine, create_session_factory
from qaflow.errors import DatabaseError
from qaflow.reader import Answer, ModelSpec
from qaflow.services.answer_recorder import AnswerRecorder
from qaflow.services.schemas import AnswerCreate, AnswerPublic
from tests.support.threads import run_threads

SPEC = ModelSpec("m", "/models/m", "/models/m")


def answer_in(n: int) -> AnswerCreate:
    return AnswerCreate(question=f"question {n}?", context=f"context {n}")


def answer(n: int) -> Answer:
    return Answer(text=f"answer {n}", score=0.5, start=0, end=7)


def stored_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AnswerRecord)) or 0


def record_concurrently(recorder: AnswerRecorder, count: int) -> list[DatabaseError]:
    """``count`` threads record at once; the DatabaseErrors they got (every thread must end)."""
    errors: list[DatabaseError] = []

    def record(n: int) -> None:
        try:
            recorder.record(SPEC, answer_in(n), answer(n))
        except DatabaseError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(count)]
    run_threads(threads, 30)  # fails if a caller was left waiting
    return errors


def test_an_answer_is_stored_and_returned(
    db_engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    recorder = AnswerRecorder(db_engine, session_factory)
    public = recorder.record(SPEC, answer_in(1), answer(1))
    assert (public.model, public.question, public.answer, public.source) == (
        "m",
        "question 1?",
        "answer 1",
        "online",
    )
    with session_factory() as session:
        (row,) = session.scalars(select(AnswerRecord))
    assert (row.question, row.answer, row.model_ref) == ("question 1?", "answer 1", "/models/m")
    assert recorder.commits == 1


def test_answers_that_arrive_during_a_commit_share_the_next_one(
    db_engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    recorder = AnswerRecorder(db_engine, session_factory)
    first_commit, release = threading.Event(), threading.Event()

    @event.listens_for(session_factory, "before_commit")
    def hold_the_first(session: Session) -> None:
        if not first_commit.is_set():
            first_commit.set()
            assert release.wait(30)

    results: dict[int, AnswerPublic] = {}

    def record(n: int) -> None:
        results[n] = recorder.record(SPEC, answer_in(n), answer(n))

    threads = [threading.Thread(target=record, args=(n,)) for n in range(12)]
    threads[0].start()
    assert first_commit.wait(30)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 30
    while recorder.queued < 11 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(30)

    assert recorder.commits == 2  # the held one, then all eleven that queued behind it
    assert (recorder.answers, recorder.largest_group) == (12, 11)
    assert sorted(results) == list(range(12))
    assert all(results[n].question == f"question {n}?" for n in results)
    assert stored_count(session_factory) == 12


def test_a_database_failure_reaches_every_caller_and_stores_nothing(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated: no tables
    recorder = AnswerRecorder(engine, create_session_factory(engine))
    errors = record_concurrently(recorder, 4)
    engine.dispose()
    assert len(errors) == 4
    assert all("storing answers" in str(error) and "answers" in str(error) for error in errors)
    assert recorder.queued == 0
    assert recorder.commits == 0


def test_the_group_size_is_bounded(
    db_engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with pytest.raises(ValueError, match="max_group"):
        AnswerRecorder(db_engine, session_factory, max_group=0)
    recorder = AnswerRecorder(db_engine, session_factory, max_group=1)
    for n in range(3):
        recorder.record(SPEC, answer_in(n), answer(n))
    assert recorder.commits == 3
    assert stored_count(session_factory) == 3


def test_an_unexpected_failure_reaches_every_caller_instead_of_hanging(
    db_engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    recorder = AnswerRecorder(db_engine, session_factory)

    @event.listens_for(session_factory, "before_commit")
    def fail(session: Session) -> None:
        raise RuntimeError("disk on fire")

    errors = record_concurrently(recorder, 6)
    assert len(errors) == 6
    assert all("disk on fire" in str(error) for error in errors)
    event.remove(session_factory, "before_commit", fail)
    assert stored_count(session_factory) == 0
