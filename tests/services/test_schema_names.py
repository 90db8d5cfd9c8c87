"""The names the public schemas accept are exactly the states and kinds the database stores.

Schemas spell them as ``Literal`` types (readable OpenAPI, plain strings in JSON); the database
keeps them as enums. A value added on one side only would be refused by the other, so each pair
must stay the same set.
"""

from __future__ import annotations

import enum
from typing import Any, get_args

import pytest

from qaflow.cli.eval_cmd import EvalBackend
from qaflow.config import ModelRuntime
from qaflow.db import AnswerSource, JobScope, JobState, ModelBackend, UploadOrigin
from qaflow.reader import Backend
from qaflow.services.pipeline_schemas import JobScopeName, JobStateName
from qaflow.services.schemas import BackendName, SourceName
from qaflow.services.upload_schemas import UploadOriginName
from qaflow.ui.views.models import BACKENDS


@pytest.mark.parametrize(
    ("literal", "stored"),
    [
        (BackendName, ModelBackend),
        (SourceName, AnswerSource),
        (JobStateName, JobState),
        (JobScopeName, JobScope),
        (UploadOriginName, UploadOrigin),
    ],
)
def test_schema_names_match_the_stored_enum(literal: Any, stored: type[enum.StrEnum]) -> None:
    assert sorted(get_args(literal)) == sorted(member.value for member in stored)


def test_every_spelling_of_the_runtimes_is_one_set() -> None:
    runtimes = sorted(get_args(ModelRuntime))
    assert runtimes == ["onnx", "onnx-int8", "torch"]
    assert sorted(get_args(Backend)) == runtimes
    assert sorted(member.value for member in EvalBackend) == runtimes
    assert sorted(BACKENDS) == runtimes
