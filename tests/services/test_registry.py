"""The model registry: the default entry created once, names registered safely side by side."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.reader import ModelSpec, ReaderCache
from qaflow.services.registry import add_model, ensure_default_model, list_models
from qaflow.services.schemas import ModelCreate
from tests.support.threads import run_threads

RACERS = 6


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


def _race(session_factory: sessionmaker[Session], act: Callable[[Session], object]) -> list[str]:
    """Run ``act`` in RACERS threads released together, each with its own session; the errors."""
    barrier = threading.Barrier(RACERS)
    errors: list[str] = []

    def racer() -> None:
        with session_factory() as session:
            barrier.wait()
            try:
                act(session)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    run_threads([threading.Thread(target=racer) for _ in range(RACERS)], timeout=120)
    return errors


def test_processes_starting_together_create_one_default_entry(
    session_factory: sessionmaker[Session],
) -> None:
    settings = Settings(default_model="main", default_model_backend="torch")

    errors = _race(session_factory, lambda s: ensure_default_model(session=s, settings=settings))

    assert errors == []
    with session_factory() as session:
        assert [m.name for m in list_models(session=session, settings=settings)] == ["main"]


def test_one_new_name_registered_at_once_by_several_requests(
    session_factory: sessionmaker[Session], tiny_model_dir: Path
) -> None:
    settings = Settings(default_model="main")
    model_in = ModelCreate(name="mine", model=str(tiny_model_dir), tokenizer=str(tiny_model_dir))
    readers = ReaderCache()
    readers.get(ModelSpec("mine", str(tiny_model_dir), str(tiny_model_dir)))  # loaded once

    errors = _race(
        session_factory,
        lambda s: add_model(session=s, settings=settings, readers=readers, model_in=model_in),
    )

    assert errors == []
    with session_factory() as session:
        [entry] = list_models(session=session, settings=settings)
    assert (entry.name, entry.model, entry.backend) == ("mine", str(tiny_model_dir), "torch")
