"""Content-keyed shards: a table of shard digests, and answers keyed by input row alone.

Datum ids now hash their shard's digest instead of the whole file's hash, so files share the
datums of their common shards. Each file still gets every one of its rows in ``answers`` (a row
is one per pipeline, version, input content and row), so ``(datum_id, row_index)`` is no longer
unique: two files that share a datum both store its rows.

Datums made before this revision keep their ids; planning still finds them
(:mod:`qaflow.pipeline.planning`).

Revision ID: 0005_shard_digests
Revises: 0004_answers_batch_row
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_shard_digests"
down_revision: str | None = "0004_answers_batch_row"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DATUM_ROW = "uq_answers_datum_row"


def upgrade() -> None:
    op.create_table(
        "shard_digests",
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("shard_start", sa.Integer(), nullable=False),
        sa.Column("shard_stop", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_shard_digests_blob_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint(
            "blob_sha256", "shard_start", "shard_stop", name=op.f("pk_shard_digests")
        ),
    )
    # SQLite cannot drop a constraint: batch mode copies the table, from this frozen definition
    # (which also lets ``--sql`` render it without a database to reflect).
    with op.batch_alter_table("answers", copy_from=_answers_as_of_0004()) as batch:
        batch.drop_constraint(_DATUM_ROW, type_="unique")


def downgrade() -> None:
    # Files that shared a datum both stored its rows: all stay, and all but the oldest copy
    # lose their datum_id (NULLs never collide), which the old key cannot hold twice.
    op.execute(
        "UPDATE answers SET datum_id = NULL WHERE datum_id IS NOT NULL AND id NOT IN "
        "(SELECT MIN(id) FROM answers WHERE datum_id IS NOT NULL GROUP BY datum_id, row_index)"
    )
    answers = _answers_as_of_0004()
    answers.constraints = {c for c in answers.constraints if c.name != _DATUM_ROW}
    with op.batch_alter_table("answers", copy_from=answers) as batch:
        batch.create_unique_constraint(_DATUM_ROW, ["datum_id", "row_index"])
    op.drop_table("shard_digests")


def _answers_as_of_0004() -> sa.Table:
    return sa.Table(
        "answers",
        sa.MetaData(),
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
        sa.CheckConstraint("source IN ('online', 'batch')", name="ck_answers_answer_source"),
        sa.PrimaryKeyConstraint("id", name="pk_answers"),
        sa.UniqueConstraint("datum_id", "row_index", name=_DATUM_ROW),
        sa.Index("ix_answers_created_at_model_name", "created_at", "model_name"),
        sa.Index("ix_answers_model_name", "model_name"),
        sa.Index("ix_answers_job_id", "job_id"),
        sa.Index(
            "uq_answers_batch_row",
            "pipeline_name",
            "pipeline_version",
            "input_sha256",
            "row_index",
            unique=True,
        ),
    )
