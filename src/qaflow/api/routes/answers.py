"""Answer routes: POST /answer answers one question, GET /answer lists the history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from qaflow.api.deps import SessionDep, StateDep, TokenDep
from qaflow.db import AnswerSource
from qaflow.errors import InvalidInputError
from qaflow.reader import ModelSpec
from qaflow.services import answering, registry
from qaflow.services.runtime import Runtime
from qaflow.services.schemas import AnswerCreate, AnswerPublic, SourceName

router = APIRouter(tags=["answers"])


@router.post("/answer", response_model=AnswerPublic, dependencies=[TokenDep])
async def post_answer(
    answer_in: AnswerCreate,
    state: StateDep,
    model: Annotated[
        str | None, Query(description="Registered model name; default if omitted.")
    ] = None,
) -> AnswerPublic:
    """Answer one question about one context with a registered model and store it."""
    # No DB connection is held while the question waits for its micro-batch: under a burst that
    # would exhaust the pool long before the model is the bottleneck.
    spec = await run_in_threadpool(_resolve_model, state, model)
    answers = await state.answering.answer(spec, answer_in.question, answer_in.context)
    # Concurrent requests' rows are committed together (group commit); each returns once its
    # own row is stored.
    return await run_in_threadpool(state.recorder.record, spec, answer_in, answers[0])


def _resolve_model(state: Runtime, model: str | None) -> ModelSpec:
    with state.sessions() as session:
        return registry.resolve_model(session=session, settings=state.settings, name=model)


@router.get("/answer", response_model=list[AnswerPublic])
def get_answers(
    session: SessionDep,
    start: Annotated[int | None, Query(description="Unix seconds, inclusive.")] = None,
    end: Annotated[int | None, Query(description="Unix seconds, inclusive.")] = None,
    model: str | None = None,
    source: SourceName | None = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> list[AnswerPublic]:
    """Stored answers with start <= timestamp <= end, oldest first."""
    if start is None or end is None:
        raise InvalidInputError("Query timestamps not provided")
    try:
        start_at = datetime.fromtimestamp(start, UTC)
        # 'timestamp' is whole seconds: everything inside the end second is included.
        end_before = datetime.fromtimestamp(end + 1, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInputError("Query timestamps out of range") from exc
    return answering.list_answers(
        session=session,
        start=start_at,
        end=end_before,
        model=model,
        source=AnswerSource(source) if source else None,
        limit=limit,
    )
