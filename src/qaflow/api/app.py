"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from qaflow import __version__
from qaflow.api.errors import install_error_handlers
from qaflow.api.routes import answers, health, models, uploads
from qaflow.config import Settings, load_settings
from qaflow.services.runtime import open_runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the database is migrated and the default model registered at start-up."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_runtime(resolved) as runtime:
            app.state.qaflow = runtime
            yield

    app = FastAPI(
        title="qaflow",
        version=__version__,
        summary="Extractive question answering: one question at a time, or by the million.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(answers.router)
    app.include_router(uploads.router)
    return app
