"""Storing online answers with group commit: concurrent requests share one transaction.

Under load every ``POST /answer`` would otherwise pay a transaction of its own (on SQLite, a
journal sync each) one after another. Here the first request to find the writer free writes
everything queued so far in one transaction; the requests that arrive meanwhile queue up and
are written together by the next writer. Each caller still returns only once its own row is
committed, so a response always names a stored answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import AnswerRecord
from qaflow.db.failures import database_errors
from qaflow.errors import DatabaseError, QaflowError
from qaflow.reader import Answer, ModelSpec
from qaflow.services.answering import new_online_record, to_public
from qaflow.services.schemas import AnswerCreate, AnswerPublic

DEFAULT_MAX_GROUP = 256


@dataclass(eq=False, slots=True)
class _Pending:
    record: AnswerRecord
    done: threading.Event = field(default_factory=threading.Event)
    result: AnswerPublic | None = None
    error: Exception | None = None


class AnswerRecorder:
    """Writes online answers to the history, committing concurrent ones together."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        *,
        max_group: int = DEFAULT_MAX_GROUP,
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._engine = engine
        self._sessions = sessions
        self._max_group = max_group
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        # Counters for GET /stats, written under the writer lock.
        self.commits = 0
        self.answers = 0
        self.largest_group = 0

    @property
    def queued(self) -> int:
        """Answers waiting for a writer."""
        with self._queue_lock:
            return len(self._queue)

    def record(self, spec: ModelSpec, answer_in: AnswerCreate, answer: Answer) -> AnswerPublic:
        """Store one answer (blocking until committed) and return its public view."""
        pending = _Pending(new_online_record(spec, answer_in, answer))
        with self._queue_lock:
            self._queue.append(pending)
        while not pending.done.is_set():
            with self._writer:
                if not pending.done.is_set():
                    self._write_group()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _write_group(self) -> None:
        with self._queue_lock:
            group = self._queue[: self._max_group]
            del self._queue[: self._max_group]
        if not group:
            return
        try:
            with database_errors(self._engine, "storing answers"), self._sessions() as session:
                session.add_all(pending.record for pending in group)
                session.commit()
                self.commits += 1
                self.answers += len(group)
                self.largest_group = max(self.largest_group, len(group))
        except Exception as failure:  # every caller of the group must hear of it, or it would wait
            for pending in group:
                pending.error = _caller_error(failure)
                pending.done.set()
            return
        for pending in group:
            pending.result = to_public(pending.record)
            pending.done.set()


def _caller_error(failure: Exception) -> QaflowError:
    """One exception object per caller (each thread raises and annotates its own)."""
    if isinstance(failure, QaflowError):
        error = type(failure)(str(failure))
        error.__cause__ = failure.__cause__
    else:
        error = DatabaseError(f"storing answers failed: {failure}")
        error.__cause__ = failure
    return error
