"""Fixtures of the reader tests: one tiny QA model per session and readers over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaflow.reader import ModelSpec, Reader, ReaderOptions, load_reader
from tests.support.tiny_model import build_tiny_qa_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT QA model with the real MiniLM tokenizer (lift to the root conftest)."""
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa-model"))


@pytest.fixture(scope="session")
def tiny_spec(tiny_model_dir: Path) -> ModelSpec:
    return ModelSpec(name="tiny", model=str(tiny_model_dir), tokenizer=str(tiny_model_dir))


@pytest.fixture(scope="session")
def tiny_reader(tiny_spec: ModelSpec) -> Reader:
    return load_reader(tiny_spec, options=ReaderOptions())
