"""Batch pipeline: pipelines, their versions, jobs and datums.

Revision ID: 0003_pipeline
Revises: 0002_versioning
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003_pipeline"
down_revision: str | None = "0002_versioning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the enum values as of this revision; later revisions change them explicitly.
_JOB_SCOPES = ("changes", "all")
_JOB_STATES = ("queued", "running", "done", "failed")
_DATUM_STATES = ("pending", "running", "done", "failed")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("name", name=op.f("uq_pipelines_name")),
    )
    op.create_table(
        "pipeline_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        _counter("planned_seq"),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_versions_pipeline_id_pipelines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_versions")),
        sa.UniqueConstraint(
            "pipeline_id", "version", name=op.f("uq_pipeline_versions_pipeline_id_version")
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_version_id", sa.Integer(), nullable=False),
        sa.Column("input_commit_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="queued", nullable=False),
        _counter("total"),
        _counter("processed"),
        _counter("skipped"),
        _counter("failed"),
        sa.Column("output_commit_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        _timestamp("heartbeat_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint(_one_of("scope", _JOB_SCOPES), name=op.f("ck_jobs_job_scope")),
        sa.CheckConstraint(_one_of("state", _JOB_STATES), name=op.f("ck_jobs_job_state")),
        sa.ForeignKeyConstraint(
            ["input_commit_id"], ["commits.id"], name=op.f("fk_jobs_input_commit_id_commits")
        ),
        sa.ForeignKeyConstraint(
            ["output_commit_id"], ["commits.id"], name=op.f("fk_jobs_output_commit_id_commits")
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_version_id"],
            ["pipeline_versions.id"],
            name=op.f("fk_jobs_pipeline_version_id_pipeline_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint(
            "pipeline_version_id",
            "input_commit_id",
            "scope",
            name=op.f("uq_jobs_pipeline_version_id_input_commit_id_scope"),
        ),
    )
    op.create_index(op.f("ix_jobs_input_commit_id"), "jobs", ["input_commit_id"], unique=False)
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"], unique=False)
    op.create_table(
        "datums",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("shard_start", sa.Integer(), nullable=False),
        sa.Column("shard_stop", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        _counter("tries"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_sha256", sa.String(length=64), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("error_rows", sa.Integer(), nullable=True),
        _timestamp("updated_at"),
        sa.CheckConstraint(_one_of("state", _DATUM_STATES), name=op.f("ck_datums_datum_state")),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_datums_blob_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_datums_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["result_sha256"], ["blobs.sha256"], name=op.f("fk_datums_result_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datums")),
    )
    op.create_index("ix_datums_job_id_state", "datums", ["job_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_datums_job_id_state", table_name="datums")
    op.drop_table("datums")
    op.drop_index("ix_jobs_state_created_at", table_name="jobs")
    op.drop_index(op.f("ix_jobs_input_commit_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("pipeline_versions")
    op.drop_table("pipelines")
