"""One batch answer per (pipeline, version, input content, row), whatever the sharding.

A datum is a row range, so the same row of the same content could be answered again under
the same pipeline version when ``shard_rows`` changed (new ranges, new datum ids), and the
``(datum_id, row_index)`` key let both copies into ``answers``. This drops such copies (the
oldest stays) and makes the row itself the key.

Revision ID: 0004_answers_batch_row
Revises: 0003_pipeline
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_answers_batch_row"
down_revision: str | None = "0003_pipeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW = ("pipeline_name", "pipeline_version", "input_sha256", "row_index")


def upgrade() -> None:
    row = ", ".join(_ROW)
    op.execute(
        "DELETE FROM answers WHERE source = 'batch' AND id NOT IN "
        f"(SELECT MIN(id) FROM answers WHERE source = 'batch' GROUP BY {row})"
    )
    op.create_index("uq_answers_batch_row", "answers", list(_ROW), unique=True)


def downgrade() -> None:
    op.drop_index("uq_answers_batch_row", table_name="answers")
