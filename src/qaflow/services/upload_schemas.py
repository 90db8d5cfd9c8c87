"""Public views of uploads and bucket scans."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from qaflow.services.pipeline_schemas import UploadStatus

UploadOriginName = Literal["api", "cli", "bucket_scan"]


class UploadPublic(BaseModel):
    """A stored, validated CSV upload and the commit that added it to the ``uploads`` repo."""

    id: str
    filename: str
    path: str = Field(description="Where the file lives in the 'uploads' repo.")
    sha256: str
    size_bytes: int
    rows: int = Field(description="Data rows (the header not counted).")
    empty_rows: int = Field(description="Rows whose question or context is blank.")
    columns: list[str]
    commit_id: str
    origin: UploadOriginName
    created_at: datetime


class UploadWithStatus(UploadPublic, UploadStatus):
    """An upload and how far the pipeline is with it: the fields of both views, as
    ``GET /uploads`` lists them (the status fields equal ``GET /uploads/{id}``'s)."""


@dataclass
class ScanReport:
    """What one scan of the bucket's ``incoming/`` prefix did.

    ``committed``: new uploads. ``already_committed``: files a crashed scan had committed but
    not deleted; now deleted. ``rejected``: (incoming key, reason), moved to ``rejected/``.
    ``failed``: (incoming key, reason) for transient failures; left in place for the next scan.
    """

    committed: list[UploadPublic] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    already_committed: list[UploadPublic] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
