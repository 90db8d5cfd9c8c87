"""Upload routes (the batch pipeline's entry point)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from qaflow.api.deps import TokenDep

router = APIRouter(tags=["uploads"])


@router.post("/upload", dependencies=[TokenDep])
def upload() -> None:
    """Reserved for the batch pipeline: upload a CSV of question/context pairs."""
    raise HTTPException(
        status_code=status.HTTP_501_NOT_IMPLEMENTED,
        detail="CSV upload arrives with the batch pipeline.",
    )
