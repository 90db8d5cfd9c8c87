"""Helpers of the pipeline tests: CSV builders, uploads, worker passes, stored answers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from qaflow.config import Settings
from qaflow.db import AnswerRecord, ModelBackend, ModelEntry, UploadOrigin
from qaflow.pipeline.worker import RunReport
from qaflow.services import pipeline_service
from qaflow.services.pipeline_schemas import PipelineUpdate, PipelineUpdateResult
from qaflow.services.pipeline_worker import pipeline_worker
from qaflow.services.runtime import Runtime
from qaflow.services.upload_schemas import UploadPublic
from qaflow.services.uploads import create_upload

OTHER_MODEL = "tiny-other"


def question_csv(rows: int, *, first: int = 0, blank_questions: Sequence[int] = ()) -> bytes:
    """A CSV of ``rows`` question/context pairs plus an ``id`` pass-through column."""
    lines = ["id,question,context"]
    for number in range(first, first + rows):
        question = "" if number - first in blank_questions else f"Who wrote program {number}?"
        context = f"Ada Lovelace wrote program {number} for the Analytical Engine in 1843."
        lines.append(f"{number},{question},{context}")
    return ("\n".join(lines) + "\n").encode()


def pipeline_settings_for(
    home: Path, database_url: str, model_dir: Path, **extra: object
) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": database_url,
        "default_model": "tiny",
        "default_model_ref": str(model_dir),
        "default_model_backend": "torch",
        "shard_rows": 4,
        "retry_backoff_s": 0.05,
        "worker_poll_s": 0.05,
        "job_lease_s": 30.0,
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


def register_model(runtime: Runtime, name: str, model_dir: Path) -> None:
    with runtime.sessions() as session:
        session.add(
            ModelEntry(
                name=name,
                model=str(model_dir),
                tokenizer=str(model_dir),
                backend=ModelBackend.TORCH,
            )
        )
        session.commit()


def upload(runtime: Runtime, data: bytes, filename: str = "questions.csv") -> UploadPublic:
    with runtime.sessions() as session:
        return create_upload(
            session=session,
            store=runtime.store,
            source=io.BytesIO(data),
            filename=filename,
            origin=UploadOrigin.CLI,
        )


def run_pass(runtime: Runtime, **options: object) -> RunReport:
    """One worker pass, as `qaflow run` does it."""
    with pipeline_worker(
        settings=runtime.settings,
        session_factory=runtime.sessions,
        store=runtime.store,
        **options,  # type: ignore[arg-type]
    ) as worker:
        return worker.run_once(force=True)


def stored_answers(runtime: Runtime) -> list[AnswerRecord]:
    with runtime.sessions() as session:
        query = select(AnswerRecord).order_by(
            AnswerRecord.upload_id, AnswerRecord.pipeline_version, AnswerRecord.row_index
        )
        return list(session.scalars(query))


def update_pipeline(runtime: Runtime, **changes: object) -> PipelineUpdateResult:
    """Change the question_answer pipeline (created first if need be)."""
    with runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        return pipeline_service.update_pipeline(
            session=session,
            settings=runtime.settings,
            name="question_answer",
            update=PipelineUpdate.model_validate(changes),
        )
