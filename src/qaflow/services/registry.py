"""The model registry: which QA models answer questions, under which names."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.config import Settings
from qaflow.db import ModelBackend, ModelEntry
from qaflow.errors import ConflictError, InvalidInputError, NotFoundError
from qaflow.reader import ModelSpec, ReaderCache
from qaflow.services.schemas import ModelCreate, ModelPublic


def ensure_default_model(*, session: Session, settings: Settings) -> None:
    """Create the default registry entry when it is missing (first start, fresh database)."""
    if _find(session, settings.default_model) is None:
        session.add(
            ModelEntry(
                name=settings.default_model,
                tokenizer=settings.default_model_ref,
                model=settings.default_model_ref,
                backend=ModelBackend(settings.default_model_backend),
            )
        )
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
    entry = _find(session, model_in.name)
    if entry is None:
        session.add(
            ModelEntry(
                name=spec.name,
                tokenizer=spec.tokenizer,
                model=spec.model,
                backend=ModelBackend(spec.backend),
            )
        )
    else:
        entry.tokenizer = spec.tokenizer
        entry.model = spec.model
        entry.backend = ModelBackend(spec.backend)
    session.commit()
    return list_models(session=session, settings=settings)


def delete_model(*, session: Session, settings: Settings, name: str) -> list[ModelPublic]:
    if name == settings.default_model:
        raise ConflictError(f"Model '{name}' is the default model and cannot be deleted.")
    entry = _find(session, name)
    if entry is None:
        raise NotFoundError(f"Model '{name}' not found.")
    session.delete(entry)
    session.commit()
    return list_models(session=session, settings=settings)


def resolve_model(*, session: Session, settings: Settings, name: str | None) -> ModelSpec:
    """The spec of a registered model; ``None`` means the default model."""
    entry = _find(session, name or settings.default_model)
    if entry is None:
        raise InvalidInputError("Model not found")
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


def _find(session: Session, name: str) -> ModelEntry | None:
    return session.scalars(select(ModelEntry).where(ModelEntry.name == name)).one_or_none()
