"""ORM models of the versioned data: repos, content-addressed blobs, commits and uploads.

A commit records only its changes (``commit_files``); ``repo_files`` is the materialized HEAD
tree, updated in the commit's transaction, so listing a repo's files never walks its history.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qaflow.db.models import Base, string_enum
from qaflow.db.types import UTCDateTime, utc_now

SHA256_LENGTH = 64
ID_LENGTH = 32
PATH_LENGTH = 1024


class RepoKind(enum.StrEnum):
    """Whether a repo holds data people bring in or data a pipeline made."""

    INPUT = "input"
    OUTPUT = "output"


class CommitOrigin(enum.StrEnum):
    """What made a commit."""

    UPLOAD = "upload"
    BUCKET_SCAN = "bucket_scan"
    PIPELINE = "pipeline"


class FileOp(enum.StrEnum):
    """What a commit did to one path."""

    PUT = "put"
    DELETE = "delete"


class UploadOrigin(enum.StrEnum):
    """Which face an upload came through."""

    API = "api"
    CLI = "cli"
    BUCKET_SCAN = "bucket_scan"


class Repo(Base):
    """A named, versioned set of files."""

    __tablename__ = "repos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[RepoKind] = mapped_column(string_enum(RepoKind, "repo_kind"))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Blob(Base):
    """Content stored once under ``blobs/sha256/<2 hex>/<sha256>``."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Commit(Base):
    """One atomic change to a repo, numbered ``seq`` 1, 2, 3... within the repo."""

    __tablename__ = "commits"
    __table_args__ = (UniqueConstraint("repo_id", "seq"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id"))
    seq: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("commits.id"))
    origin: Mapped[CommitOrigin] = mapped_column(string_enum(CommitOrigin, "commit_origin"))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Provenance of pipeline output; job and pipeline version live in the pipeline's tables,
    # which reference commits, so these two carry no foreign key.
    input_commit_id: Mapped[str | None] = mapped_column(ForeignKey("commits.id"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    pipeline_version_id: Mapped[int | None] = mapped_column(Integer)
    egressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CommitFile(Base):
    """One path a commit put (with its blob) or deleted."""

    __tablename__ = "commit_files"

    commit_id: Mapped[str] = mapped_column(ForeignKey("commits.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    op: Mapped[FileOp] = mapped_column(string_enum(FileOp, "file_op"))
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    size: Mapped[int | None] = mapped_column(BigInteger)


class RepoFile(Base):
    """One file of a repo's HEAD tree and the last commit that put it."""

    __tablename__ = "repo_files"

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    commit_id: Mapped[str] = mapped_column(ForeignKey("commits.id"))


class Upload(Base):
    """A validated CSV of question/context rows, committed to the ``uploads`` repo."""

    __tablename__ = "uploads"
    __table_args__ = (
        # A bucket scan that crashed after its commit finds its upload again by these; the
        # constraint also stops two concurrent scans from committing one incoming file twice.
        UniqueConstraint("source_key", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    filename: Mapped[str] = mapped_column(String(PATH_LENGTH))
    path: Mapped[str] = mapped_column(String(PATH_LENGTH))
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(Integer)
    empty_rows: Mapped[int] = mapped_column(Integer)
    columns_json: Mapped[str] = mapped_column(Text)
    origin: Mapped[UploadOrigin] = mapped_column(string_enum(UploadOrigin, "upload_origin"))
    commit_id: Mapped[str] = mapped_column(ForeignKey("commits.id"), index=True)
    source_key: Mapped[str | None] = mapped_column(String(PATH_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)
