"""Answering single questions online: micro-batched per model, recorded in the history."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.config import Settings
from qaflow.db import AnswerRecord, AnswerSource
from qaflow.reader import Answer, ModelSpec, ReaderCache
from qaflow.services.batching import BatchingStats, MicroBatcher
from qaflow.services.schemas import AnswerCreate, AnswerPublic


class AnsweringService:
    """Answers questions with registered models, one micro-batcher per model name."""

    def __init__(self, *, readers: ReaderCache, settings: Settings) -> None:
        self._readers = readers
        self._settings = settings
        # By name: a name registered again with other weights gets a new batcher, and the
        # old one is retired rather than left running beside it.
        self._batchers: dict[str, tuple[ModelSpec, MicroBatcher]] = {}
        self._lock = threading.Lock()

    async def answer(
        self, spec: ModelSpec, question: str, context: str, *, top_k: int = 1
    ) -> list[Answer]:
        """Answer one question; concurrent calls for the same model share forward passes."""
        reader_ready = asyncio.to_thread(self._readers.get, spec)  # load off the event loop
        await reader_ready
        future = self._batcher(spec).submit(question, context, top_k=top_k)
        return await asyncio.wrap_future(future)

    def answer_now(
        self, spec: ModelSpec, question: str, context: str, *, top_k: int = 1
    ) -> list[Answer]:
        """Answer one question synchronously, without batching (CLI use)."""
        return self._readers.get(spec).answer([question], [context], top_k=top_k)[0]

    def stats(self) -> dict[str, BatchingStats]:
        """Micro-batching counters per model name (since its current registration)."""
        with self._lock:
            return {name: batcher.stats for name, (_, batcher) in self._batchers.items()}

    def close(self) -> None:
        with self._lock:
            batchers, self._batchers = list(self._batchers.values()), {}
        for _, batcher in batchers:
            batcher.close()

    def _batcher(self, spec: ModelSpec) -> MicroBatcher:
        with self._lock:
            current = self._batchers.get(spec.name)
            if current is not None and current[0] == spec:
                return current[1]
            batcher = self._new_batcher(spec)
            self._batchers[spec.name] = (spec, batcher)
        if current is not None:
            current[1].retire()  # answers what it holds, then its thread ends
        return batcher

    def _new_batcher(self, spec: ModelSpec) -> MicroBatcher:
        readers = self._readers

        def answer_batch(
            questions: Sequence[str], contexts: Sequence[str], top_k: int
        ) -> list[list[Answer]]:
            # Looked up per batch, not held: the cache decides which models stay loaded.
            return readers.get(spec).answer(questions, contexts, top_k=top_k)

        return MicroBatcher(
            answer_batch,
            max_batch_size=self._settings.max_batch_size,
            max_wait_s=self._settings.batch_wait_ms / 1000.0,
            name=spec.name,
        )


def new_online_record(spec: ModelSpec, answer_in: AnswerCreate, answer: Answer) -> AnswerRecord:
    """The history row of one online answer, not yet stored."""
    return AnswerRecord(
        created_at=datetime.now(UTC),
        model_name=spec.name,
        model_ref=spec.model,
        question=answer_in.question,
        context=answer_in.context,
        answer=answer.text,
        score=answer.score,
        start_char=answer.start,
        end_char=answer.end,
        source=AnswerSource.ONLINE,
    )


def list_answers(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    model: str | None = None,
    source: AnswerSource | None = None,
    limit: int | None = None,
) -> list[AnswerPublic]:
    """Stored answers with start <= created_at < end, oldest first."""
    query = select(AnswerRecord).where(
        AnswerRecord.created_at >= start, AnswerRecord.created_at < end
    )
    if model is not None:
        query = query.where(AnswerRecord.model_name == model)
    if source is not None:
        query = query.where(AnswerRecord.source == source)
    query = query.order_by(AnswerRecord.created_at, AnswerRecord.id)
    if limit is not None:
        query = query.limit(limit)
    return [to_public(record) for record in session.scalars(query)]


def to_public(record: AnswerRecord) -> AnswerPublic:
    return AnswerPublic(
        timestamp=int(record.created_at.timestamp()),
        model=record.model_name,
        answer=record.answer or "",
        question=record.question,
        context=record.context,
        score=record.score,
        start=record.start_char,
        end=record.end_char,
        source=record.source.value,
        created_at=record.created_at,
        error=record.error,
        upload_id=record.upload_id,
        job_id=record.job_id,
        output_commit_id=record.output_commit_id,
        pipeline_version=record.pipeline_version,
    )
