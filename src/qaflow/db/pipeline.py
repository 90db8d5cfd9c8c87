"""ORM models of the batch pipeline: pipelines and their versions, jobs and datums.

A job runs one pipeline version over one input commit. A datum is one row shard of one input
file under one pipeline spec; its id hashes the spec and the shard's content, so work already
done under the same spec is found by a primary-key look-up and skipped, including the unchanged
shards of a file that was edited or appended to.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qaflow.db.models import Base, string_enum
from qaflow.db.types import UTCDateTime, utc_now
from qaflow.db.versioning import ID_LENGTH, PATH_LENGTH, SHA256_LENGTH


class JobScope(enum.StrEnum):
    """Which input files a job covers: the input commit's changes, or the whole tree."""

    CHANGES = "changes"
    ALL = "all"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DatumState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Pipeline(Base):
    """A named pipeline; ``current_version_id`` is the version new work runs with."""

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # No foreign key: versions reference their pipeline, and a cycle would complicate DDL.
    current_version_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PipelineVersion(Base):
    """One immutable spec of a pipeline (operational knobs aside, see ``qaflow.pipeline.spec``)."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    version: Mapped[int] = mapped_column(Integer)
    spec_json: Mapped[str] = mapped_column(Text)
    spec_hash: Mapped[str] = mapped_column(String(SHA256_LENGTH))
    # Input commits with seq <= this already have a job (of this version or an earlier one):
    # planning reads only newer commits, so it never scans the repo's history.
    planned_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Job(Base):
    """One run of a pipeline version over one input commit."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("pipeline_version_id", "input_commit_id", "scope"),
        Index("ix_jobs_state_created_at", "state", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    pipeline_version_id: Mapped[int] = mapped_column(ForeignKey("pipeline_versions.id"))
    input_commit_id: Mapped[str] = mapped_column(ForeignKey("commits.id"), index=True)
    scope: Mapped[JobScope] = mapped_column(string_enum(JobScope, "job_scope"))
    state: Mapped[JobState] = mapped_column(
        string_enum(JobState, "job_state"),
        default=JobState.QUEUED,
        server_default=JobState.QUEUED.value,
    )
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_commit_id: Mapped[str | None] = mapped_column(ForeignKey("commits.id"))
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Datum(Base):
    """One row shard of one input file, processed under one pipeline spec."""

    __tablename__ = "datums"
    __table_args__ = (Index("ix_datums_job_id_state", "job_id", "state"),)

    id: Mapped[str] = mapped_column(String(SHA256_LENGTH), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    path: Mapped[str] = mapped_column(String(PATH_LENGTH))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    shard_start: Mapped[int] = mapped_column(Integer)
    shard_stop: Mapped[int] = mapped_column(Integer)
    state: Mapped[DatumState] = mapped_column(
        string_enum(DatumState, "datum_state"),
        default=DatumState.PENDING,
        server_default=DatumState.PENDING.value,
    )
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    result_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    rows: Mapped[int | None] = mapped_column(Integer)
    error_rows: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, onupdate=utc_now)


class ShardDigest(Base):
    """The content digest of rows ``[shard_start, shard_stop)`` of a CSV blob, header included.

    Datum ids hash it, so two files whose shard is byte for byte the same under the same header
    share the datum. Computed once per blob and row range; a blob's digests never change.
    """

    __tablename__ = "shard_digests"

    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), primary_key=True)
    shard_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    shard_stop: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(SHA256_LENGTH))
