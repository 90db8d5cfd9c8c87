"""A pipeline version follows the model's weights, not only its reference (as Pachyderm would)."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from qaflow.db import Datum, Job
from qaflow.pipeline.spec import current_version, ensure_pipeline, list_versions, spec_of
from qaflow.reader.fingerprint import model_revision
from qaflow.services import pipeline_service
from qaflow.services.pipeline_worker import pipeline_worker
from qaflow.services.runtime import Runtime, open_runtime
from tests.pipeline.pipeline_support import (
    pipeline_settings_for,
    question_csv,
    run_pass,
    stored_answers,
    update_pipeline,
    upload,
)

PIPELINE = "question_answer"


@pytest.fixture
def model_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A copy of the tiny model that a test may re-train in place."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture
def runtime(tmp_path: Path, database_url: str, model_dir: Path) -> Iterator[Runtime]:
    with open_runtime(pipeline_settings_for(tmp_path / "home", database_url, model_dir)) as opened:
        yield opened


def retrain_in_place(model_dir: Path) -> None:
    """Save the model again into its directory with its span head negated: other answers."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = model_dir / "model.safetensors"
    with safe_open(str(path), "pt") as weights:
        metadata = weights.metadata()
    tensors = load_file(str(path))
    tensors["qa_outputs.weight"] = -tensors["qa_outputs.weight"]
    save_file(tensors, str(path), metadata=metadata)


def version_numbers(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return [v.version for v in list_versions(session=session, name=PIPELINE)]


def test_new_weights_under_the_same_reference_make_a_version_for_new_data(
    runtime: Runtime, model_dir: Path
) -> None:
    old = upload(runtime, question_csv(6))
    run_pass(runtime)
    assert version_numbers(runtime) == [1]

    retrain_in_place(model_dir)
    new = upload(runtime, question_csv(4, first=50), "new.csv")
    report = run_pass(runtime)

    assert version_numbers(runtime) == [2, 1]
    # Only the new upload's datum ran; the old upload's datums were not recomputed.
    assert [(job.state, job.total, job.processed, job.skipped) for job in report.jobs] == [
        ("done", 1, 1, 0)
    ]
    by_upload = Counter((a.upload_id, a.pipeline_version) for a in stored_answers(runtime))
    assert by_upload == {(old.id, 1): 6, (new.id, 2): 4}
    with runtime.sessions() as session:
        versions = list_versions(session=session, name=PIPELINE)
        assert spec_of(versions[0]).model_revision == model_revision(str(model_dir))
        assert spec_of(versions[1]).model_revision != spec_of(versions[0]).model_revision
        assert spec_of(versions[0]).model_ref == spec_of(versions[1]).model_ref
        assert session.scalar(select(func.count()).select_from(Datum)) == 2 + 1
        old_jobs = session.scalars(select(Job).where(Job.input_commit_id == old.commit_id))
        assert [job.pipeline_version_id for job in old_jobs] == [versions[1].id]

    run_pass(runtime)  # the same weights again: no new version
    assert version_numbers(runtime) == [2, 1]


def test_reprocess_reruns_old_data_with_the_new_weights(runtime: Runtime, model_dir: Path) -> None:
    old = upload(runtime, question_csv(12))
    run_pass(runtime)
    retrain_in_place(model_dir)

    result = update_pipeline(runtime, reprocess=True)
    report = run_pass(runtime)

    assert (result.new_version, result.pipeline.version) == (True, 2)
    assert [(job.job_id, job.processed) for job in report.jobs] == [(result.reprocess_job_id, 3)]
    answers = stored_answers(runtime)
    assert Counter((a.upload_id, a.pipeline_version) for a in answers) == {
        (old.id, 1): 12,
        (old.id, 2): 12,
    }
    before = [(a.answer, a.start_char) for a in answers if a.pipeline_version == 1]
    after = [(a.answer, a.start_char) for a in answers if a.pipeline_version == 2]
    assert before != after, "the negated span head answers differently"


def test_a_pipeline_stored_without_a_pin_gets_one_before_it_plans(
    runtime: Runtime, model_dir: Path
) -> None:
    with runtime.sessions() as session:
        spec = pipeline_service.default_spec(session=session, settings=runtime.settings)
        ensure_pipeline(session=session, spec=spec.model_copy(update={"model_revision": None}))
    uploaded = upload(runtime, question_csv(4))

    run_pass(runtime)

    assert version_numbers(runtime) == [2, 1]
    assert {a.pipeline_version for a in stored_answers(runtime)} == {2}
    assert all(a.upload_id == uploaded.id for a in stored_answers(runtime))
    with runtime.sessions() as session:
        current = spec_of(current_version(session=session, name=PIPELINE))
    assert current.model_revision == model_revision(str(model_dir))


def test_unreadable_weights_are_logged_once_and_their_jobs_fail_visibly(
    runtime: Runtime, model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
    shutil.rmtree(model_dir)
    upload(runtime, question_csv(4))

    with (
        caplog.at_level(logging.WARNING, logger="qaflow.pipeline.worker"),
        pipeline_worker(
            settings=runtime.settings, session_factory=runtime.sessions, store=runtime.store
        ) as worker,
    ):
        report = worker.run_once(force=True)
        worker.run_once(force=True)

    assert version_numbers(runtime) == [1]
    warnings = [r.getMessage() for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(warnings) == 1
    assert [job.state for job in report.jobs] == ["failed"]
    with runtime.sessions() as session:
        job = session.get_one(Job, report.jobs[0].job_id)
    assert job.error is not None
    assert "Could not load model" in job.error
