"""The long-lived parts of a qaflow process, built from settings and torn down together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.db import create_db_engine, create_session_factory, upgrade_database
from qaflow.reader import ReaderCache
from qaflow.reader.onnx_cache import default_onnx_cache_dir
from qaflow.services.answer_recorder import AnswerRecorder
from qaflow.services.answering import AnsweringService
from qaflow.services.registry import ensure_default_model, resolve_model
from qaflow.storage import ObjectStore, open_store

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: ReaderCache
    answering: AnsweringService
    recorder: AnswerRecorder
    store: ObjectStore


@contextmanager
def open_runtime(settings: Settings, *, migrate: bool = True) -> Iterator[Runtime]:
    """Connect the database (migrating it), the object store and the model cache."""
    engine = create_db_engine(settings.resolved_database_url)
    try:
        if migrate:
            upgrade_database(engine)
        sessions = create_session_factory(engine)
        with sessions() as session:
            ensure_default_model(session=session, settings=settings)
        readers = ReaderCache(
            threads=settings.torch_threads,
            onnx_cache_dir=default_onnx_cache_dir(settings),
            max_readers=settings.max_loaded_models,
        )
        answering = AnsweringService(readers=readers, settings=settings)
        try:
            yield Runtime(
                settings=settings,
                engine=engine,
                sessions=sessions,
                readers=readers,
                answering=answering,
                recorder=AnswerRecorder(engine, sessions),
                store=open_store(settings),
            )
        finally:
            answering.close()
    finally:
        engine.dispose()


def preload_default_model(runtime: Runtime) -> threading.Thread:
    """Load the default model (building its ONNX graph when needed) on a background thread,
    so the first question after start-up does not wait for it. Failures are only logged: the
    request that needs the model reports them."""

    def load() -> None:
        try:
            with runtime.sessions() as session:
                spec = resolve_model(session=session, settings=runtime.settings, name=None)
            runtime.readers.get(spec)
            logger.info("default model %s (%s) ready", spec.name, spec.backend)
        except Exception as exc:  # an optimisation only: never take the process down
            logger.warning("could not preload the default model: %s", exc)

    thread = threading.Thread(target=load, name="qaflow-preload", daemon=True)
    thread.start()
    return thread
