"""Loading models: clear errors for what cannot load, options checked against the model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qaflow.errors import ConfigurationError, ModelLoadError
from qaflow.reader import Backend, ModelSpec, ReaderOptions, load_reader
from tests.support.tiny_model import build_tiny_qa_model


def test_nonexistent_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-model-here"
    with pytest.raises(ModelLoadError, match=r"Could not load model 'ghost' \(ref .*no-model-here"):
        load_reader(ModelSpec("ghost", str(missing), str(missing)))


def test_directory_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(
        ModelLoadError, match=r"'empty'.*is not a Hugging Face model: it has no config"
    ):
        load_reader(ModelSpec("empty", str(tmp_path), str(tmp_path)))


def test_unknown_hub_id_while_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable once at import; the running process needs the flag too.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub_id = "qaflow-tests/no-such-model"
    with pytest.raises(ModelLoadError, match=f"'missing' \\(ref {hub_id}\\).*offline"):
        load_reader(ModelSpec("missing", hub_id, hub_id))


def test_tokenizer_directory_missing(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = ModelSpec("half", str(tiny_model_dir), str(tmp_path / "nothing"))
    with pytest.raises(ModelLoadError, match="nothing"):
        load_reader(spec)


def test_unknown_backend(tiny_model_dir: Path) -> None:
    spec = ModelSpec("tiny", str(tiny_model_dir), str(tiny_model_dir), backend="tpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Unknown backend 'tpu'"):
        load_reader(spec)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"max_answer_len": 0},
        {"doc_stride": -1},
        {"max_seq_len": 128, "doc_stride": 100, "max_question_len": 64},
    ],
)
def test_inconsistent_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ReaderOptions(**kwargs)


def test_window_longer_than_the_model_accepts(tmp_path: Path) -> None:
    directory = build_tiny_qa_model(tmp_path / "short", max_position=128)
    spec = ModelSpec("short", str(directory), str(directory))
    with pytest.raises(ConfigurationError, match="max_seq_len 384 exceeds the 128 tokens"):
        load_reader(spec)
    assert load_reader(spec, options=ReaderOptions(max_seq_len=128, doc_stride=32)).options


def test_stride_leaving_no_room_for_special_tokens(tiny_model_dir: Path) -> None:
    spec = ModelSpec("tiny", str(tiny_model_dir), str(tiny_model_dir))
    options = ReaderOptions(max_seq_len=100, doc_stride=35, max_question_len=63)
    with pytest.raises(ConfigurationError, match="doc_stride 35"):
        load_reader(spec, options=options)


_CONCURRENT_FIRST_LOADS = """
import sys, threading
from pathlib import Path
from qaflow.reader import ModelSpec, load_reader

ref, cache = sys.argv[1], Path(sys.argv[2])
errors = []

def load(number, backend):
    spec = ModelSpec(name=f"m{number}", model=ref, tokenizer=ref, backend=backend)
    try:
        load_reader(spec, onnx_cache_dir=cache)
    except Exception as exc:
        errors.append(repr(exc))

threads = [
    threading.Thread(target=load, args=(n, ("torch", "onnx-int8")[n % 2])) for n in range(4)
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\\n".join(errors))
sys.exit(1 if errors else 0)
"""


def test_first_loads_in_several_threads_at_once_all_succeed(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # A fresh interpreter: the race is in transformers' first, lazy resolution of its classes,
    # which this test process has long done. Before the load lock, 3 of 4 loads failed here.
    result = subprocess.run(
        [sys.executable, "-c", _CONCURRENT_FIRST_LOADS, str(tiny_model_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_loading_prints_no_progress_bars(
    tiny_model_dir: Path, tmp_path: Path, backend: Backend, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    spec = ModelSpec("tiny", str(tiny_model_dir), str(tiny_model_dir), backend=backend)
    load_reader(spec, onnx_cache_dir=tmp_path / "onnx")

    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # switched off only while qaflow loaded
