"""The ORM models: the model registry (``models``) and stored answers with lineage (``answers``)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Enum,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qaflow.db.types import UTCDateTime, utc_now

# Explicit constraint and index names keep migrations reproducible across dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ENUM_LENGTH = 16


class AnswerSource(enum.StrEnum):
    """Where an answer came from."""

    ONLINE = "online"
    BATCH = "batch"


class ModelBackend(enum.StrEnum):
    """The runtime a registered model is executed with."""

    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


def string_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A column type for ``enum_class`` stored by value, shared by every state column."""
    # Stored as VARCHAR + CHECK rather than a native type, so adding a value is a plain migration.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=ENUM_LENGTH,
        validate_strings=True,
        values_callable=_enum_values,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelEntry(Base):
    """One registered QA model: a name and where its tokenizer and weights come from."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tokenizer: Mapped[str] = mapped_column(String(1000))
    model: Mapped[str] = mapped_column(String(1000))
    backend: Mapped[ModelBackend] = mapped_column(
        string_enum(ModelBackend, "model_backend"),
        default=ModelBackend.TORCH,
        server_default=ModelBackend.TORCH.value,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class AnswerRecord(Base):
    """One answered question, online or from a batch pipeline, with the lineage of batch rows."""

    __tablename__ = "answers"
    __table_args__ = (
        # The batch egress upserts on this: one answer per row of an input file's content and
        # pipeline version, however the rows were sharded into datums, and whichever files
        # share the datum (online rows have NULLs here, which never collide).
        Index(
            "uq_answers_batch_row",
            "pipeline_name",
            "pipeline_version",
            "input_sha256",
            "row_index",
            unique=True,
        ),
        # Also serves lookups by created_at alone (leading column), so there is no separate index.
        Index("ix_answers_created_at_model_name", "created_at", "model_name"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    model_name: Mapped[str] = mapped_column(String(200), index=True)
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    start_char: Mapped[int | None] = mapped_column(Integer)
    end_char: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[AnswerSource] = mapped_column(string_enum(AnswerSource, "answer_source"))
    error: Mapped[str | None] = mapped_column(Text)

    upload_id: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    datum_id: Mapped[str | None] = mapped_column(String(64))
    row_index: Mapped[int | None] = mapped_column(Integer)
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    output_commit_id: Mapped[str | None] = mapped_column(String(64))
    pipeline_name: Mapped[str | None] = mapped_column(String(200))
    pipeline_version: Mapped[int | None] = mapped_column(Integer)
    model_ref: Mapped[str | None] = mapped_column(String(1000))
    extra_json: Mapped[str | None] = mapped_column(Text)
