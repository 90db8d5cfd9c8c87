"""API answers the web app reads in its own, lenient shape (the rest are the services' schemas).

Unknown fields are kept and new ones optional, so the web app keeps working against an API a
version older or newer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ModelView(_Lenient):
    """A registry entry (GET /models); ``default`` is None from an API that does not say."""

    name: str
    tokenizer: str
    model: str
    backend: str = "torch"
    default: bool | None = None


class UploadReceipt(_Lenient):
    """The answer to POST /upload."""

    upload_id: str
    commit_id: str | None = None
    sha256: str | None = None
    rows: int | None = None
    filename: str | None = None


class AnswersPage(_Lenient):
    """One page of an upload's answers (JSON rows) and how many rows there are in all."""

    rows: list[dict[str, Any]]
    total: int
