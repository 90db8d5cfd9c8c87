"""Versioned data: repos, content-addressed blobs, commits, HEAD trees and uploads.

Revision ID: 0002_versioning
Revises: 0001_initial
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002_versioning"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the enum values as of this revision; later revisions change them explicitly.
_REPO_KINDS = ("input", "output")
_COMMIT_ORIGINS = ("upload", "bucket_scan", "pipeline")
_FILE_OPS = ("put", "delete")
_UPLOAD_ORIGINS = ("api", "cli", "bucket_scan")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "repos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _created_at(),
        sa.CheckConstraint(_one_of("kind", _REPO_KINDS), name=op.f("ck_repos_repo_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos")),
        sa.UniqueConstraint("name", name=op.f("uq_repos_name")),
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "commits",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("input_commit_id", sa.String(length=32), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("pipeline_version_id", sa.Integer(), nullable=True),
        sa.Column("egressed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            _one_of("origin", _COMMIT_ORIGINS), name=op.f("ck_commits_commit_origin")
        ),
        sa.ForeignKeyConstraint(
            ["input_commit_id"], ["commits.id"], name=op.f("fk_commits_input_commit_id_commits")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["commits.id"], name=op.f("fk_commits_parent_id_commits")
        ),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], name=op.f("fk_commits_repo_id_repos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commits")),
        sa.UniqueConstraint("repo_id", "seq", name=op.f("uq_commits_repo_id_seq")),
    )
    op.create_index(
        op.f("ix_commits_input_commit_id"), "commits", ["input_commit_id"], unique=False
    )
    op.create_table(
        "commit_files",
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(_one_of("op", _FILE_OPS), name=op.f("ck_commit_files_file_op")),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_commit_files_blob_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name=op.f("fk_commit_files_commit_id_commits")
        ),
        sa.PrimaryKeyConstraint("commit_id", "path", name=op.f("pk_commit_files")),
    )
    op.create_table(
        "repo_files",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_repo_files_blob_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name=op.f("fk_repo_files_commit_id_commits")
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_repo_files_repo_id_repos")
        ),
        sa.PrimaryKeyConstraint("repo_id", "path", name=op.f("pk_repo_files")),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=1024), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("empty_rows", sa.Integer(), nullable=False),
        sa.Column("columns_json", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("commit_id", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=1024), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            _one_of("origin", _UPLOAD_ORIGINS), name=op.f("ck_uploads_upload_origin")
        ),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["commits.id"], name=op.f("fk_uploads_commit_id_commits")
        ),
        sa.ForeignKeyConstraint(["sha256"], ["blobs.sha256"], name=op.f("fk_uploads_sha256_blobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("source_key", "sha256", name=op.f("uq_uploads_source_key_sha256")),
    )
    op.create_index(op.f("ix_uploads_commit_id"), "uploads", ["commit_id"], unique=False)
    op.create_index(op.f("ix_uploads_created_at"), "uploads", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_uploads_created_at"), table_name="uploads")
    op.drop_index(op.f("ix_uploads_commit_id"), table_name="uploads")
    op.drop_table("uploads")
    op.drop_table("repo_files")
    op.drop_table("commit_files")
    op.drop_index(op.f("ix_commits_input_commit_id"), table_name="commits")
    op.drop_table("commits")
    op.drop_table("blobs")
    op.drop_table("repos")
