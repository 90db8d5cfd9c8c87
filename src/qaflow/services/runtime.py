"""The long-lived parts of a qaflow process, built from settings and torn down together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.db import create_db_engine, create_session_factory, upgrade_database
from qaflow.reader import ReaderCache
from qaflow.reader.onnx_cache import default_onnx_cache_dir
from qaflow.services.answering import AnsweringService
from qaflow.services.registry import ensure_default_model
from qaflow.storage import ObjectStore, open_store


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: ReaderCache
    answering: AnsweringService
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
            threads=settings.torch_threads, onnx_cache_dir=default_onnx_cache_dir(settings)
        )
        answering = AnsweringService(readers=readers, settings=settings)
        try:
            yield Runtime(
                settings=settings,
                engine=engine,
                sessions=sessions,
                readers=readers,
                answering=answering,
                store=open_store(settings),
            )
        finally:
            answering.close()
    finally:
        engine.dispose()
