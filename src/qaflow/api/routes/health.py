"""Liveness: GET / (the original's greeting) and GET /healthz (component status)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from qaflow import __version__
from qaflow.api.deps import StateDep
from qaflow.services import health
from qaflow.services.pipeline_worker import EmbeddedWorker

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: str
    storage: str
    default_model: str
    pipeline_worker: str = Field(
        description="The embedded pipeline worker: running, starting, off (not embedded), or "
        "failing: why (it cannot start, or its passes fail; it keeps retrying)."
    )


@router.get("/")
def root() -> dict[str, str]:
    """A short health message, as the original API's root route."""
    return {"message": "qaflow is running: POST /answer to ask, GET /docs for the API."}


@router.get("/healthz", response_model=HealthPublic)
def healthz(state: StateDep, request: Request, response: Response) -> HealthPublic:
    """Database, storage, default-model and pipeline-worker status; "degraded" when one is not
    well, and HTTP 503 when the database or storage is down (the API cannot serve then)."""
    report = health.check(
        engine=state.engine, store=state.store, readers=state.readers, settings=state.settings
    )
    if not report.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    worker = _worker_status(getattr(request.app.state, "pipeline_worker", None))
    # A failing worker degrades the service, but the API still answers: no 503 for it.
    return HealthPublic(
        status="ok" if report.ok and not worker.startswith("failing") else "degraded",
        version=__version__,
        database=report.database,
        storage=report.storage,
        default_model=report.default_model,
        pipeline_worker=worker,
    )


def _worker_status(worker: EmbeddedWorker | None) -> str:
    if worker is None:
        return "off"
    if worker.problem is not None:
        return f"failing: {worker.problem}"
    return "running" if worker.running else "starting"


class BatchingStatsPublic(BaseModel):
    requests: int
    batches: int
    max_batch_size: int


class RecordingStatsPublic(BaseModel):
    answers: int
    commits: int
    largest_group: int


class StatsPublic(BaseModel):
    batching: dict[str, BatchingStatsPublic]
    recording: RecordingStatsPublic


@router.get("/stats", response_model=StatsPublic)
def stats(state: StateDep) -> StatsPublic:
    """Online micro-batching counters per model, and the answers' group commits, since start-up."""
    recorder = state.recorder
    return StatsPublic(
        batching={
            name: BatchingStatsPublic(
                requests=s.requests, batches=s.batches, max_batch_size=s.max_batch_size
            )
            for name, s in state.answering.stats().items()
        },
        recording=RecordingStatsPublic(
            answers=recorder.answers,
            commits=recorder.commits,
            largest_group=recorder.largest_group,
        ),
    )
