"""The model registry: which QA models answer questions, under which names."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qaflow.config import Settings
from qaflow.db import ModelBackend, ModelEntry, insert_ignoring_duplicates, utc_now
from qaflow.db.failures import database_errors
from qaflow.errors import ConflictError, InvalidInputError, NotFoundError
from qaflow.reader import ModelSpec, ReaderCache
from qaflow.services.schemas import ModelCreate, ModelPublic


def ensure_default_model(*, session: Session, settings: Settings) -> None:
    """Create the default registry entry when it is missing (first start, fresh database).

    Safe beside another process starting on the same database: the insert skips a name that
    is already there.
    """
    if _find(session, settings.default_model) is not None:
        return
    row = _row(
        settings.default_model,
        tokenizer=settings.default_model_ref,
        model=settings.default_model_ref,
        backend=settings.default_model_backend,
    )
    with database_errors(session.get_bind().engine, "registering the default model"):
        insert_ignoring_duplicates(session, ModelEntry, [row], ["name"])
        session.commit()


def list_models(*, session: Session, settings: Settings) -> list[ModelPublic]:
    entries = session.scalars(select(ModelEntry).order_by(ModelEntry.id)).all()
    return [to_public(entry, default=entry.name == settings.default_model) for entry in entries]


def add_model(
    *, session: Session, settings: Settings, readers: ReaderCache, model_in: ModelCreate
) -> list[ModelPublic]:
    """Register a model after proving it loads; re-adding a name updates it in place."""
    spec = ModelSpec(
        name=model_in.name,
        model=model_in.model,
        tokenizer=model_in.tokenizer,
        backend=model_in.backend,
    )
    readers.get(spec)  # raises ModelLoadError with the model's name: nothing is stored then
    row = _row(spec.name, tokenizer=spec.tokenizer, model=spec.model, backend=spec.backend)
    # Insert-or-update in one transaction, so two requests registering one new name at once
    # both succeed (the later one's values win) instead of one hitting the unique constraint.
    with database_errors(session.get_bind().engine, f"registering model '{spec.name}'"):
        insert_ignoring_duplicates(session, ModelEntry, [row], ["name"])
        session.execute(
            update(ModelEntry)
            .where(ModelEntry.name == spec.name)
            .values(tokenizer=spec.tokenizer, model=spec.model, backend=ModelBackend(spec.backend))
            .execution_options(synchronize_session=False)
        )
        session.commit()
    session.expire_all()
    return list_models(session=session, settings=settings)


def delete_model(*, session: Session, settings: Settings, name: str) -> list[ModelPublic]:
    if name == settings.default_model:
        raise ConflictError(f"Model '{name}' is the default model and cannot be deleted.")
    entry = _find(session, name)
    if entry is None:
        raise NotFoundError(f"Model '{name}' not found.")
    with database_errors(session.get_bind().engine, f"deleting model '{name}'"):
        session.delete(entry)
        session.commit()
    return list_models(session=session, settings=settings)


def resolve_model(*, session: Session, settings: Settings, name: str | None) -> ModelSpec:
    """The spec of a registered model; ``None`` means the default model."""
    entry = _find(session, name or settings.default_model)
    if entry is None:
        raise InvalidInputError(
            f"Model not found: '{name or settings.default_model}' is not registered."
        )
    return to_spec(entry)


def to_spec(entry: ModelEntry) -> ModelSpec:
    return ModelSpec(
        name=entry.name,
        model=entry.model,
        tokenizer=entry.tokenizer,
        backend=entry.backend.value,
    )


def to_public(entry: ModelEntry, *, default: bool = False) -> ModelPublic:
    return ModelPublic(
        name=entry.name,
        tokenizer=entry.tokenizer,
        model=entry.model,
        backend=entry.backend.value,
        default=default,
    )


def _row(name: str, *, tokenizer: str, model: str, backend: str) -> dict[str, object]:
    return {
        "name": name,
        "tokenizer": tokenizer,
        "model": model,
        "backend": ModelBackend(backend),
        "created_at": utc_now(),
    }


def _find(session: Session, name: str) -> ModelEntry | None:
    return session.scalars(select(ModelEntry).where(ModelEntry.name == name)).one_or_none()
