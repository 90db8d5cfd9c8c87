from __future__ import annotations

from pathlib import Path

import pytest

from qaflow.errors import InvalidInputError, ModelLoadError, NotFoundError
from qaflow.pipeline.spec import PipelineSpec, current_version, spec_of, update_pipeline
from qaflow.reader.fingerprint import model_revision
from qaflow.services import pipeline_service
from qaflow.services.runtime import Runtime

BASE = {"model": "tiny", "model_ref": "/models/tiny", "tokenizer": "/models/tiny"}
# A spec as stored before model_revision existed, and its hash then (computed by that code).
STORED_BEFORE_REVISIONS = (
    '{"name":"question_answer","input_repo":"uploads","glob":"**/*.csv","model":"tiny",'
    '"model_ref":"/models/tiny","tokenizer":"/models/tiny","backend":"torch","max_seq_len":384,'
    '"doc_stride":128,"max_question_len":64,"max_answer_len":30,"handle_impossible":false,'
    '"batch_size":32,"parallelism":null,"datum_tries":3,"shard_rows":5000,"trigger":"commit",'
    '"scan_interval_s":300.0}'
)
HASH_BEFORE_REVISIONS = "b3b5b9230e32f1b15cfcf7ec359bbed69cd245ed9c97fc8a72550c7d510f6aba"


def test_the_hash_covers_what_changes_answers_and_nothing_else() -> None:
    spec = PipelineSpec.model_validate(BASE)
    operational = spec.model_copy(
        update={"parallelism": 4, "shard_rows": 10, "datum_tries": 9, "batch_size": 8}
    )
    assert operational.spec_hash == spec.spec_hash
    for change in (
        {"model_ref": "/models/other"},
        {"tokenizer": "/models/other"},
        {"backend": "onnx"},
        {"max_answer_len": 10},
        {"doc_stride": 64},
        {"name": "other_pipeline"},
        {"model_revision": "sha256:abc"},
    ):
        assert spec.model_copy(update=change).spec_hash != spec.spec_hash, change


def test_a_spec_stored_before_model_revisions_keeps_its_hash() -> None:
    spec = PipelineSpec.model_validate_json(STORED_BEFORE_REVISIONS)
    assert spec.model_revision is None
    assert spec.spec_hash == HASH_BEFORE_REVISIONS
    assert PipelineSpec.model_validate_json(spec.to_json()).spec_hash == HASH_BEFORE_REVISIONS
    pinned = spec.model_copy(update={"model_revision": "sha256:abc"})
    assert pinned.spec_hash != HASH_BEFORE_REVISIONS
    assert pinned.model_copy(update={"model_revision": "sha256:def"}).spec_hash != (
        pinned.spec_hash
    )


def test_a_new_pipeline_pins_the_weights_of_its_model(
    runtime: Runtime, tiny_model_dir: Path
) -> None:
    with runtime.sessions() as session:
        spec = pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
    assert spec.model_revision == model_revision(str(tiny_model_dir))


def test_a_new_model_reference_drops_the_old_weights_pin(
    runtime: Runtime, other_model_dir: Path
) -> None:
    with runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        version, created = update_pipeline(
            session=session, name="question_answer", changes={"model_ref": str(other_model_dir)}
        )
    assert created
    assert spec_of(version).model_revision is None


def test_the_pipeline_is_created_once(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        first = pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        again = pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        version = current_version(session=session, name="question_answer")
    assert first == again == spec_of(version)
    assert (first.model, first.shard_rows, version.version) == ("tiny", 4, 1)


def test_operational_changes_keep_the_version(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        version, created = update_pipeline(
            session=session, name="question_answer", changes={"datum_tries": 7, "trigger": "cron"}
        )
        assert not created
        assert version.version == 1
        assert (spec_of(version).datum_tries, spec_of(version).trigger) == (7, "cron")


def test_bad_changes_are_refused_and_nothing_changes(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        with pytest.raises(InvalidInputError, match="doc_stride"):
            update_pipeline(session=session, name="question_answer", changes={"max_seq_len": 128})
        with pytest.raises(InvalidInputError, match="exceeds the 512 tokens model 'tiny'"):
            update_pipeline(session=session, name="question_answer", changes={"max_seq_len": 600})
        with pytest.raises(ModelLoadError, match="does not exist"):
            update_pipeline(session=session, name="question_answer", changes={"model_ref": "/no"})
        with pytest.raises(InvalidInputError, match="shard_rows"):
            update_pipeline(session=session, name="question_answer", changes={"shard_rows": 0})
        with pytest.raises(InvalidInputError, match="renamed"):
            update_pipeline(session=session, name="question_answer", changes={"name": "x"})
        with pytest.raises(NotFoundError, match="nope"):
            update_pipeline(session=session, name="nope", changes={})
        assert current_version(session=session, name="question_answer").version == 1
