"""Public views of pipelines, jobs, upload progress, repos, commits and diffs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qaflow.pipeline.spec import TriggerKind
from qaflow.services.schemas import reject_nul

JobStateName = Literal["queued", "running", "done", "failed"]
JobScopeName = Literal["changes", "all"]
TriggerName = TriggerKind


class PipelineVersionPublic(BaseModel):
    version: int
    spec_hash: str
    model: str
    model_ref: str
    created_at: datetime


class PipelinePublic(BaseModel):
    """A pipeline, its current spec and every version it had."""

    name: str
    version: int = Field(description="The version new work runs with.")
    spec_hash: str
    spec: dict[str, Any]
    versions: list[PipelineVersionPublic]


class PipelineUpdate(BaseModel):
    """Changes to a pipeline's spec; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="Registry name of the model to use.")
    # Upper bounds far past any sensible value: a typo or a huge number is a 400 here, not an
    # overflow in the database or a spec that cannot be read back.
    max_seq_len: int | None = Field(default=None, ge=16, le=100_000)
    doc_stride: int | None = Field(default=None, ge=0, le=100_000)
    max_question_len: int | None = Field(default=None, ge=1, le=100_000)
    max_answer_len: int | None = Field(default=None, ge=1, le=100_000)
    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    parallelism: int | None = Field(default=None, ge=1, le=1_000)
    datum_tries: int | None = Field(default=None, ge=1, le=100)
    shard_rows: int | None = Field(default=None, ge=1, le=100_000_000)
    glob: str | None = Field(default=None, min_length=1, max_length=1000)
    trigger: TriggerName | None = None
    scan_interval_s: float | None = Field(
        default=None, gt=0, le=366 * 24 * 3600, allow_inf_nan=False, description="Seconds."
    )
    reprocess: bool = Field(
        default=False, description="Also rerun all existing input with the (new) version."
    )

    @field_validator("model", "glob")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return None if value is None else reject_nul(value)


class PipelineUpdateResult(BaseModel):
    pipeline: PipelinePublic
    new_version: bool = Field(description="Whether the change made a new version.")
    reprocess_job_id: str | None = None
    reprocess_state: JobStateName | None = Field(
        default=None,
        description="The reprocess job's state: queued, or done when the same tree was "
        "already reprocessed with this version without failures.",
    )


class JobPublic(BaseModel):
    """A job: one pipeline version over one input commit."""

    id: str
    pipeline: str
    pipeline_version: int
    input_commit_id: str
    scope: JobScopeName
    state: JobStateName
    total: int = Field(description="Datums (row shards) the job covers.")
    processed: int = Field(description="Datums this job computed.")
    skipped: int = Field(description="Datums already done under the same spec, not recomputed.")
    failed: int
    progress: float = Field(description="Share of datums settled, 0 to 1.")
    output_commit_id: str | None
    error: str | None
    worker_id: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class DatumPublic(BaseModel):
    id: str
    path: str
    rows: str = Field(description="Row range, start-stop (stop exclusive).")
    state: Literal["pending", "running", "done", "failed"]
    tries: int
    error: str | None
    error_rows: int | None


class JobDetail(JobPublic):
    failed_datums: list[DatumPublic] = Field(default_factory=list)


class UploadStatus(BaseModel):
    """How far the pipeline is with one upload."""

    id: str
    filename: str
    rows: int
    commit_id: str
    state: JobStateName = Field(
        description="failed also when the job ended but some of this upload's row ranges "
        "failed: those rows have no answer (datums_failed, errors)."
    )
    job_id: str | None
    pipeline_version: int | None
    datums_total: int
    datums_done: int
    datums_failed: int
    progress: float
    error_rows: int = Field(description="Rows answered with an error (blank text, bad row).")
    errors: list[str] = Field(description="Why failed datums failed.")
    output_commit_id: str | None
    egressed: bool = Field(description="Whether the answers are in the SQL answers table.")


class RepoPublic(BaseModel):
    name: str
    kind: Literal["input", "output"]
    description: str | None
    created_at: datetime
    head_commit_id: str | None
    head_seq: int | None
    files: int


class CommitFilePublic(BaseModel):
    path: str
    op: Literal["put", "delete"]
    blob_sha256: str | None
    size: int | None


class CommitPublic(BaseModel):
    """A commit with its provenance."""

    id: str
    repo: str
    seq: int
    parent_id: str | None
    origin: Literal["upload", "bucket_scan", "pipeline"]
    message: str | None
    created_at: datetime
    input_commit_id: str | None
    job_id: str | None
    pipeline_version_id: int | None
    egressed_at: datetime | None


class CommitDetail(CommitPublic):
    files: list[CommitFilePublic]
    pipeline: str | None = None
    pipeline_version: int | None = None
    model: str | None = None


class RowChangePublic(BaseModel):
    input_path: str
    row_index: int
    question: str
    old_answer: str | None
    new_answer: str | None
    old_score: float | None
    new_score: float | None
    old_error: str | None
    new_error: str | None


class DiffPublic(BaseModel):
    """Rows whose answer changed from one output commit to another."""

    from_commit: str
    to_commit: str
    added_files: list[str]
    removed_files: list[str]
    changed_files: list[str]
    changed_rows: list[RowChangePublic]
    truncated: bool = Field(description="More rows changed than were listed.")
