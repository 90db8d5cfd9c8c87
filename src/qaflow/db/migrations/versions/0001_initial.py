"""Initial schema: the model registry and the answers table.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the enum values as of this revision; later revisions change them explicitly.
_MODEL_BACKENDS = ("torch", "onnx", "onnx-int8")
_ANSWER_SOURCES = ("online", "batch")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tokenizer", sa.String(length=1000), nullable=False),
        sa.Column("model", sa.String(length=1000), nullable=False),
        sa.Column("backend", sa.String(length=16), server_default="torch", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            _one_of("backend", _MODEL_BACKENDS), name=op.f("ck_models_model_backend")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    op.create_table(
        "answers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("start_char", sa.Integer(), nullable=True),
        sa.Column("end_char", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("upload_id", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("datum_id", sa.String(length=64), nullable=True),
        sa.Column("row_index", sa.Integer(), nullable=True),
        sa.Column("input_sha256", sa.String(length=64), nullable=True),
        sa.Column("output_commit_id", sa.String(length=64), nullable=True),
        sa.Column("pipeline_name", sa.String(length=200), nullable=True),
        sa.Column("pipeline_version", sa.Integer(), nullable=True),
        sa.Column("model_ref", sa.String(length=1000), nullable=True),
        sa.Column("extra_json", sa.Text(), nullable=True),
        sa.CheckConstraint(
            _one_of("source", _ANSWER_SOURCES), name=op.f("ck_answers_answer_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.UniqueConstraint("datum_id", "row_index", name="uq_answers_datum_row"),
    )
    op.create_index(
        "ix_answers_created_at_model_name", "answers", ["created_at", "model_name"], unique=False
    )
    op.create_index(op.f("ix_answers_model_name"), "answers", ["model_name"], unique=False)
    op.create_index(op.f("ix_answers_job_id"), "answers", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_answers_job_id"), table_name="answers")
    op.drop_index(op.f("ix_answers_model_name"), table_name="answers")
    op.drop_index("ix_answers_created_at_model_name", table_name="answers")
    op.drop_table("answers")
    op.drop_table("models")
