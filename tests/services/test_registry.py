"""The registry's default entry: created once, with the configured runtime."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.services.registry import ensure_default_model, list_models


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_the_default_entry_gets_the_configured_backend(
    session_factory: sessionmaker[Session], backend: str
) -> None:
    settings = Settings(default_model="main", default_model_backend=backend)
    with session_factory() as session:
        ensure_default_model(session=session, settings=settings)
        (entry,) = list_models(session=session, settings=settings)
    assert (entry.name, entry.backend, entry.default) == ("main", backend, True)


def test_an_existing_default_entry_keeps_its_backend(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        ensure_default_model(
            session=session, settings=Settings(default_model="main", default_model_backend="torch")
        )
        # a later start with another default runtime must not rewrite what the user has
        later = Settings(default_model="main", default_model_backend="onnx-int8")
        ensure_default_model(session=session, settings=later)
        (entry,) = list_models(session=session, settings=later)
    assert entry.backend == "torch"


def test_the_shipped_default_runtime_is_onnx_int8() -> None:
    assert Settings().default_model_backend == "onnx-int8"


def test_an_unknown_runtime_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="default_model_backend"):
        Settings(default_model_backend="tpu")
