"""Component health for liveness probes: database, storage, default model."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from qaflow.config import Settings
from qaflow.db import check_connection
from qaflow.errors import QaflowError
from qaflow.reader import ReaderCache
from qaflow.services import registry
from qaflow.storage import ObjectStore


@dataclass(frozen=True, slots=True)
class HealthReport:
    database: str
    storage: str
    default_model: str

    @property
    def ok(self) -> bool:
        return self.database == "ok" and self.storage == "ok"


def check(
    *, engine: Engine, store: ObjectStore, readers: ReaderCache, settings: Settings
) -> HealthReport:
    """Probe each component; never raises, reports each failure as text."""
    return HealthReport(
        database=_probe_database(engine),
        storage=_probe_storage(store),
        default_model=_probe_default_model(engine, readers, settings),
    )


def _probe_database(engine: Engine) -> str:
    try:
        check_connection(engine)
    except QaflowError as exc:
        return f"error: {exc}"
    return "ok"


def _probe_storage(store: ObjectStore) -> str:
    try:
        store.check()
        store.exists("healthz/probe")
    except QaflowError as exc:
        return f"error: {exc}"
    return "ok"


def _probe_default_model(engine: Engine, readers: ReaderCache, settings: Settings) -> str:
    # A liveness probe must stay cheap: report whether the model is loaded, never load it here.
    try:
        with Session(engine) as session:
            spec = registry.resolve_model(session=session, settings=settings, name=None)
    except QaflowError as exc:
        return f"error: {exc}"
    return "loaded" if spec in readers else "not loaded yet (loads on first use)"
