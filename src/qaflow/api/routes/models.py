"""Model registry routes: GET/PUT/DELETE /models, as the original API."""

from __future__ import annotations

from fastapi import APIRouter

from qaflow.api.deps import SessionDep, StateDep, TokenDep
from qaflow.errors import InvalidInputError
from qaflow.services import registry
from qaflow.services.schemas import ModelCreate, ModelPublic

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelPublic])
def list_models(session: SessionDep, state: StateDep) -> list[ModelPublic]:
    """Every registered model."""
    return registry.list_models(session=session, settings=state.settings)


@router.put("/models", response_model=list[ModelPublic], dependencies=[TokenDep])
def put_model(model_in: ModelCreate, session: SessionDep, state: StateDep) -> list[ModelPublic]:
    """Add a model (it must load), or update the entry of that name; returns the updated list."""
    return registry.add_model(
        session=session, settings=state.settings, readers=state.readers, model_in=model_in
    )


@router.delete("/models", response_model=list[ModelPublic], dependencies=[TokenDep])
def delete_model(
    session: SessionDep, state: StateDep, model: str | None = None
) -> list[ModelPublic]:
    """Remove a model by name (`?model=NAME`); the default model cannot be removed."""
    if not model:
        raise InvalidInputError("Model name not provided in query string")
    return registry.delete_model(session=session, settings=state.settings, name=model)
