"""Pipeline specs and their versions.

A spec's ``spec_hash`` covers only what changes the answers (the pipeline's name, the model's
reference and the revision of the weights behind it, tokenizer and backend, and the reading
parameters). A change to any of those makes a new pipeline version, whose datums hash
differently and so are computed afresh. Operational knobs (parallelism, tries, shard size,
trigger, glob) are updated in place on the current version: they change how work is done or
which files are picked, never an answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qaflow.db import Pipeline, PipelineVersion
from qaflow.errors import ConfigurationError, ConflictError, InvalidInputError, NotFoundError
from qaflow.reader import Backend, ModelSpec, ReaderOptions
from qaflow.reader.fingerprint import model_revision
from qaflow.reader.loading import check_options_for

QUESTION_ANSWER = "question_answer"
TriggerKind = Literal["commit", "cron"]

# The fields whose values can change an answer; everything else is operational.
RESULT_FIELDS = (
    "name",
    "model_ref",
    "tokenizer",
    "backend",
    "max_seq_len",
    "doc_stride",
    "max_question_len",
    "max_answer_len",
    "handle_impossible",
    "model_revision",
)
# What decides whether a window fits the model.
_WINDOW_FIELDS = ("model_ref", "tokenizer", "max_seq_len", "doc_stride", "max_question_len")
# Result fields added after specs were first stored: hashed only when set, so that a stored
# spec without them keeps its hash (and its datums).
_HASHED_WHEN_SET = frozenset({"model_revision"})


class PipelineSpec(BaseModel):
    """What a pipeline reads, how it answers, and how the work is run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default=QUESTION_ANSWER, min_length=1, max_length=200)
    input_repo: str = Field(default="uploads", min_length=1, max_length=200)
    glob: str = Field(default="**/*.csv", min_length=1, description="fnmatch over repo paths.")
    model: str = Field(min_length=1, description="Registry name of the model.")
    model_ref: str = Field(min_length=1, description="Hub id or directory of the weights.")
    tokenizer: str = Field(min_length=1)
    model_revision: str | None = Field(
        default=None,
        max_length=200,
        description="Fingerprint of the weights at model_ref (qaflow.reader.fingerprint); "
        "None: not pinned yet.",
    )
    backend: Backend = "torch"
    max_seq_len: int = Field(default=384, ge=16)
    doc_stride: int = Field(default=128, ge=0)
    max_question_len: int = Field(default=64, ge=1)
    max_answer_len: int = Field(default=30, ge=1)
    handle_impossible: bool = False
    batch_size: int = Field(default=32, ge=1)
    parallelism: int | None = Field(
        default=None, ge=1, description="Executor workers; None: the worker's own setting."
    )
    datum_tries: int = Field(default=3, ge=1)
    shard_rows: int = Field(default=5000, ge=1)
    trigger: TriggerKind = "commit"
    scan_interval_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)

    @property
    def spec_hash(self) -> str:
        """SHA-256 of the canonical JSON of the result-changing fields."""
        values = {
            name: getattr(self, name)
            for name in RESULT_FIELDS
            if name not in _HASHED_WHEN_SET or getattr(self, name) is not None
        }
        canonical = json.dumps(
            values,
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def model_spec(self) -> ModelSpec:
        return ModelSpec(
            name=self.model,
            model=self.model_ref,
            tokenizer=self.tokenizer,
            backend=self.backend,
            revision=self.model_revision,
        )

    def reader_options(self) -> ReaderOptions:
        return ReaderOptions(
            max_seq_len=self.max_seq_len,
            doc_stride=self.doc_stride,
            max_question_len=self.max_question_len,
            max_answer_len=self.max_answer_len,
            batch_size=self.batch_size,
            handle_impossible=self.handle_impossible,
        )

    def to_json(self) -> str:
        return self.model_dump_json()


def model_fields_of(spec: ModelSpec) -> dict[str, Any]:
    """The spec fields that name ``spec``'s model, for :func:`update_pipeline`'s changes."""
    return {
        "model": spec.name,
        "model_ref": spec.model,
        "tokenizer": spec.tokenizer,
        "backend": spec.backend,
    }


def pinned_model_fields(spec: ModelSpec) -> dict[str, Any]:
    """:func:`model_fields_of` plus the revision of the weights now at ``spec.model``.

    Raises ModelLoadError when they cannot be read.
    """
    return {**model_fields_of(spec), "model_revision": model_revision(spec.model, spec.tokenizer)}


def weights_revision(spec: PipelineSpec) -> str:
    """The revision of the weights (and tokenizer) at the spec's references now.

    Raises ModelLoadError when they cannot be read.
    """
    return model_revision(spec.model_ref, spec.tokenizer)


def pinned(spec: PipelineSpec) -> PipelineSpec:
    """``spec`` with ``model_revision`` set to the weights now at its model reference."""
    return spec.model_copy(update={"model_revision": weights_revision(spec)})


def spec_of(version: PipelineVersion) -> PipelineSpec:
    return PipelineSpec.model_validate_json(version.spec_json)


def ensure_pipeline(*, session: Session, spec: PipelineSpec) -> PipelineVersion:
    """The current version of the pipeline ``spec.name``, created from ``spec`` if missing.

    Commits. Safe when processes race to create it.
    """
    existing = _find(session, spec.name)
    if existing is not None and existing.current_version_id is not None:
        return get_version(session=session, version_id=existing.current_version_id)
    _check(spec)
    try:
        pipeline = existing or Pipeline(name=spec.name)
        session.add(pipeline)
        session.flush()
        version = _add_version(session, pipeline, spec, version=1, planned_seq=0)
        session.commit()
    except sa_exc.IntegrityError:
        session.rollback()
        return current_version(session=session, name=spec.name)
    return version


def current_version(*, session: Session, name: str) -> PipelineVersion:
    """The version new work of pipeline ``name`` runs with; NotFoundError if none."""
    pipeline = _find(session, name)
    if pipeline is None or pipeline.current_version_id is None:
        raise NotFoundError(f"Pipeline '{name}' not found.")
    return get_version(session=session, version_id=pipeline.current_version_id)


def get_version(*, session: Session, version_id: int) -> PipelineVersion:
    version = session.get(PipelineVersion, version_id)
    if version is None:
        raise NotFoundError(f"Pipeline version {version_id} not found.")
    return version


def list_versions(*, session: Session, name: str) -> list[PipelineVersion]:
    """Every version of pipeline ``name``, newest first."""
    pipeline = _find(session, name)
    if pipeline is None:
        raise NotFoundError(f"Pipeline '{name}' not found.")
    query = select(PipelineVersion).where(PipelineVersion.pipeline_id == pipeline.id)
    return list(session.scalars(query.order_by(PipelineVersion.version.desc())))


def current_versions(*, session: Session) -> list[PipelineVersion]:
    """The current version of every pipeline."""
    query = select(PipelineVersion).join(
        Pipeline, Pipeline.current_version_id == PipelineVersion.id
    )
    return list(session.scalars(query.order_by(Pipeline.id)))


def update_pipeline(
    *, session: Session, name: str, changes: Mapping[str, Any]
) -> tuple[PipelineVersion, bool]:
    """Apply ``changes`` (spec field -> value) to pipeline ``name``; commits.

    Returns the current version afterwards and whether it is a new one (the answers would
    change). New data only is processed with a new version; older data needs a reprocess job.
    """
    current = current_version(session=session, name=name)
    old = spec_of(current)
    if "name" in changes and changes["name"] != name:
        raise InvalidInputError("A pipeline cannot be renamed.")
    merged = {**old.model_dump(), **changes}
    if "model_revision" not in changes and (merged["model_ref"], merged["tokenizer"]) != (
        old.model_ref,
        old.tokenizer,
    ):
        # The pinned revision was of the old weights; the worker pins the new ones.
        merged["model_revision"] = None
    try:
        new = PipelineSpec.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInputError(f"Invalid pipeline spec: {_describe(exc)}") from exc
    _check_change(new, old)
    if new.spec_hash == old.spec_hash:
        current.spec_json = new.to_json()
        session.commit()
        return current, False
    pipeline = session.get_one(Pipeline, current.pipeline_id)
    latest = session.scalar(
        select(func.max(PipelineVersion.version)).where(PipelineVersion.pipeline_id == pipeline.id)
    )
    try:
        version = _add_version(
            session, pipeline, new, version=(latest or 0) + 1, planned_seq=current.planned_seq
        )
        session.commit()
    except sa_exc.IntegrityError as exc:
        session.rollback()
        raise ConflictError(
            f"Pipeline '{name}' was changed by someone else meanwhile; look at it and retry."
        ) from exc
    return version, True


def follow_model_weights(
    *, session: Session, version: PipelineVersion
) -> tuple[PipelineVersion, bool]:
    """The version to plan with: a new one when the weights at the spec's model reference are
    not those it pinned (re-trained in place, upgraded bundled weights), as a model change
    through :func:`update_pipeline` makes it. Old data keeps its answers (reprocess reruns it).

    Returns the version and whether it is new; commits. Raises ModelLoadError when the
    weights cannot be read.
    """
    spec = spec_of(version)
    revision = weights_revision(spec)
    if revision == spec.model_revision:
        return version, False
    try:
        return update_pipeline(
            session=session, name=spec.name, changes={"model_revision": revision}
        )
    except ConflictError:
        # Another worker made the new version meanwhile.
        return current_version(session=session, name=spec.name), False


def _add_version(
    session: Session, pipeline: Pipeline, spec: PipelineSpec, *, version: int, planned_seq: int
) -> PipelineVersion:
    # A new version takes over the planning watermark: input commits not yet planned are
    # processed with it, those already planned keep their jobs (reprocess reruns them).
    record = PipelineVersion(
        pipeline_id=pipeline.id,
        version=version,
        spec_json=spec.to_json(),
        spec_hash=spec.spec_hash,
        planned_seq=planned_seq,
    )
    session.add(record)
    session.flush()
    pipeline.current_version_id = record.id
    session.flush()
    return record


def _check(spec: PipelineSpec) -> None:
    """Reject reading parameters the reader would refuse (ConfigurationError from ReaderOptions)."""
    spec.reader_options()


def _check_change(new: PipelineSpec, old: PipelineSpec) -> None:
    """Reject a change the reader would refuse, before a version is stored: every upload after
    it would fail. The model is asked (its tokenizer and config, not its weights) only when
    the window settings or the model change."""
    try:
        _check(new)
        if any(getattr(new, field) != getattr(old, field) for field in _WINDOW_FIELDS):
            check_options_for(new.model_spec(), new.reader_options())
    except ConfigurationError as exc:
        raise InvalidInputError(f"Invalid pipeline spec: {exc.message}") from exc


def _find(session: Session, name: str) -> Pipeline | None:
    return session.scalars(select(Pipeline).where(Pipeline.name == name)).one_or_none()


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
