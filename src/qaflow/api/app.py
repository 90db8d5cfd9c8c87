"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from qaflow import __version__
from qaflow.api.errors import install_error_handlers
from qaflow.api.nul_guard import NulGuard
from qaflow.api.routes import answers, health, models, pipeline, uploads
from qaflow.config import Settings, load_settings
from qaflow.services.pipeline_service import ensure_question_answer
from qaflow.services.pipeline_worker import EmbeddedWorker
from qaflow.services.runtime import Runtime, open_runtime, preload_default_model


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the database is migrated and the default model registered at start-up."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_runtime(resolved) as runtime:
            app.state.qaflow = runtime
            preload_default_model(runtime)
            async with _pipeline(app, runtime):
                yield

    app = FastAPI(
        title="qaflow",
        version=__version__,
        summary="Extractive question answering: one question at a time, or by the million.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(NulGuard)
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(answers.router)
    app.include_router(uploads.router)
    app.include_router(pipeline.router)
    return app


@asynccontextmanager
async def _pipeline(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """The batch pipeline's part of the app: its spec exists from the start, and with
    ``settings.embedded_worker`` (`qaflow serve`) a worker thread runs until shutdown."""
    with runtime.sessions() as session:
        ensure_question_answer(session=session, settings=runtime.settings)
    app.state.pipeline_worker = None
    if not runtime.settings.embedded_worker:
        yield
        return
    worker = EmbeddedWorker(
        settings=runtime.settings, session_factory=runtime.sessions, store=runtime.store
    )
    app.state.pipeline_worker = worker
    worker.start()
    try:
        yield
    finally:
        # Joining waits for the datums in flight: off the event loop.
        await anyio.to_thread.run_sync(worker.stop)
