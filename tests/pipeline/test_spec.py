from __future__ import annotations

import pytest

from qaflow.errors import ConfigurationError, InvalidInputError, NotFoundError
from qaflow.pipeline.spec import PipelineSpec, current_version, spec_of, update_pipeline
from qaflow.services import pipeline_service
from qaflow.services.runtime import Runtime

BASE = {"model": "tiny", "model_ref": "/models/tiny", "tokenizer": "/models/tiny"}


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
    ):
        assert spec.model_copy(update=change).spec_hash != spec.spec_hash, change


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
        with pytest.raises(ConfigurationError, match="doc_stride"):
            update_pipeline(session=session, name="question_answer", changes={"max_seq_len": 128})
        with pytest.raises(InvalidInputError, match="shard_rows"):
            update_pipeline(session=session, name="question_answer", changes={"shard_rows": 0})
        with pytest.raises(InvalidInputError, match="renamed"):
            update_pipeline(session=session, name="question_answer", changes={"name": "x"})
        with pytest.raises(NotFoundError, match="nope"):
            update_pipeline(session=session, name="nope", changes={})
        assert current_version(session=session, name="question_answer").version == 1
