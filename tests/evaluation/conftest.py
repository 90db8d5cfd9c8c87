"""Fixtures of the evaluation tests: a tiny random QA model and a reader over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaflow.reader import ModelSpec, Reader, load_reader
from tests.support.tiny_model import build_tiny_qa_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa-model"))


@pytest.fixture(scope="session")
def tiny_reader(tiny_model_dir: Path) -> Reader:
    spec = ModelSpec(name="tiny", model=str(tiny_model_dir), tokenizer=str(tiny_model_dir))
    return load_reader(spec)
