"""FastAPI dependencies: the app state, a DB session per request, the token check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from qaflow.services.runtime import Runtime


def get_state(request: Request) -> Runtime:
    state: Runtime = request.app.state.qaflow
    return state


StateDep = Annotated[Runtime, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_token(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """Guard state-changing routes when QAFLOW_API_TOKEN is set; open otherwise."""
    token = state.settings.api_token
    if token is None or not token.get_secret_value():
        return
    scheme, _, supplied = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        supplied.strip().encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Missing or invalid API token: send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


TokenDep = Depends(require_token)
