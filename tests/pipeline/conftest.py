"""Fixtures of the pipeline tests: a runtime on a fresh database and store, a second model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qaflow.config import Settings
from qaflow.services.runtime import Runtime, open_runtime
from tests.pipeline.pipeline_support import pipeline_settings_for
from tests.support.tiny_model import build_tiny_qa_model


@pytest.fixture
def pipeline_settings(tmp_path: Path, database_url: str, tiny_model_dir: Path) -> Settings:
    return pipeline_settings_for(tmp_path / "home", database_url, tiny_model_dir)


@pytest.fixture
def runtime(pipeline_settings: Settings) -> Iterator[Runtime]:
    with open_runtime(pipeline_settings) as opened:
        yield opened


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model (another seed): other weights, so other answers."""
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa-model-other"), seed=1)
