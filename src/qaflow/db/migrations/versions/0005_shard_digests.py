"""Content digests of row shards, which datum ids now hash instead of the whole file's.

Datums made before this revision keep their ids: the work they hold is found again only for
files whose shards have no digest yet, so a file run again after the upgrade is answered once
more under the new ids (its answers in SQL stay single: rows are keyed by content and row too).

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


def downgrade() -> None:
    op.drop_table("shard_digests")
