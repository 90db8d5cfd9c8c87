"""Data shapes that cross the service boundary (request bodies and public views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qaflow.reader import Backend

BackendName = Backend
SourceName = Literal["online", "batch"]


def reject_nul(value: str) -> str:
    """``value``, unless it holds a NUL character, which PostgreSQL text cannot store."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    return value


class ModelCreate(BaseModel):
    """A registry entry to add: a name and where its model and tokenizer come from."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tokenizer: str = Field(min_length=1, max_length=1000)
    model: str = Field(min_length=1, max_length=1000)
    backend: BackendName = "torch"

    @field_validator("name", "tokenizer", "model")
    @classmethod
    def _strip(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("must not be blank")
        return reject_nul(stripped)


class ModelPublic(BaseModel):
    """A registry entry as clients see it (the original API's shape, plus the backend)."""

    name: str
    tokenizer: str
    model: str
    backend: BackendName = "torch"
    default: bool = Field(default=False, description="Whether requests naming no model use it.")


class AnswerCreate(BaseModel):
    """One question about one context."""

    # A misspelt or misplaced field (``"model": ...`` in the body) must not be silently ignored:
    # the answer would come from another model than the client believes.
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=10_000)
    context: str = Field(min_length=1, max_length=2_000_000)

    @field_validator("question", "context")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return reject_nul(value)

    @model_validator(mode="before")
    @classmethod
    def _model_goes_in_the_query(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" in data:
            raise ValueError("the body takes question and context; name a model with ?model=NAME")
        return data


class AnswerPublic(BaseModel):
    """A stored answer: the original API's fields first, then score, offsets and lineage."""

    timestamp: int = Field(description="Unix seconds (UTC) when the answer was made.")
    model: str
    answer: str
    question: str
    context: str
    score: float | None = None
    start: int | None = Field(default=None, description="Character offset of the answer.")
    end: int | None = Field(default=None, description="Character offset just past the answer.")
    source: SourceName = "online"
    created_at: datetime
    error: str | None = None
    upload_id: str | None = None
    job_id: str | None = None
    output_commit_id: str | None = None
    pipeline_version: int | None = None
