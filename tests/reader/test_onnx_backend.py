"""The ONNX Runtime backends against PyTorch on the tiny real model (optimum-style parity)."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from qaflow.errors import ConfigurationError, InvalidInputError, ModelLoadError
from qaflow.reader import (
    Answer,
    ModelSpec,
    Reader,
    ReaderOptions,
    build_onnx_model,
    load_reader,
)
from qaflow.reader.backends import create_backend
from qaflow.reader.batching import pad_batch
from qaflow.reader.features import encode_features
from qaflow.reader.onnx_cache import (
    FP32_FILE,
    INT8_FILE,
    META_FILE,
    ensure_onnx_model,
    model_fingerprint,
)
from tests.support.tiny_model import build_tiny_qa_model

pytest.importorskip("onnxruntime")

# Windows short enough that the long contexts below overflow into several of them.
WINDOWED = ReaderOptions(max_seq_len=128, doc_stride=32, max_question_len=32)


def qa_pairs(count: int = 20, seed: int = 13) -> tuple[list[str], list[str]]:
    """Short and long (multi-window) contexts with accents, digits and punctuation."""
    rng = random.Random(seed)
    words = ["river", "Zürich", "museum", "1848", "king's", "café", "north", "bank", "war", "—"]
    questions, contexts = [], []
    for index in range(count):
        length = rng.choice([5, 40, 120, 600]) + rng.randint(0, 30)
        contexts.append(" ".join(rng.choice(words) for _ in range(length)) + f" end{index}.")
        questions.append(f"Where did the {rng.choice(words)} go in {index}?")
    return questions, contexts


@pytest.fixture(scope="module")
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def readers(tiny_spec: ModelSpec, onnx_cache_dir: Path) -> dict[str, Reader]:
    return {
        kind: load_reader(
            ModelSpec("tiny", tiny_spec.model, tiny_spec.tokenizer, backend=kind),
            options=WINDOWED,
            onnx_cache_dir=onnx_cache_dir,
        )
        for kind in ("torch", "onnx", "onnx-int8")
    }


def test_fp32_logits_match_torch(tiny_spec: ModelSpec, onnx_cache_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_spec.tokenizer)
    questions, contexts = qa_pairs()
    features = encode_features(tokenizer, questions, contexts, WINDOWED)
    torch_backend = create_backend("torch", tiny_spec.model)
    onnx_backend = create_backend("onnx", tiny_spec.model, onnx_cache_dir=onnx_cache_dir)
    assert len(features) > len(questions)  # some contexts span several windows
    for first in range(0, len(features), 16):
        input_ids, mask, types = pad_batch(features[first : first + 16], tokenizer.pad_token_id)
        expected = torch_backend.logits(input_ids, mask, types)
        actual = onnx_backend.logits(input_ids, mask, types)
        valid = mask.astype(bool)
        for want, got in zip(expected, actual, strict=True):
            assert got.dtype == np.float32
            assert got.shape == want.shape
            np.testing.assert_allclose(got[valid], want[valid], atol=1e-4, rtol=0)


def test_fp32_reader_gives_the_same_answers(readers: dict[str, Reader]) -> None:
    questions, contexts = qa_pairs()
    expected = readers["torch"].answer(questions, contexts, top_k=3)
    actual = readers["onnx"].answer(questions, contexts, top_k=3)
    for want, got in zip(expected, actual, strict=True):
        assert [(a.text, a.start, a.end) for a in got] == [(a.text, a.start, a.end) for a in want]
        assert [a.score for a in got] == pytest.approx([a.score for a in want], abs=1e-5)


def test_int8_mostly_agrees_with_valid_offsets(readers: dict[str, Reader]) -> None:
    questions, contexts = qa_pairs(40, seed=21)
    expected = readers["torch"].answer(questions, contexts)
    actual = readers["onnx-int8"].answer(questions, contexts, top_k=3)
    for answers, context in zip(actual, contexts, strict=True):
        for answer in answers:
            assert context[answer.start : answer.end] == answer.text
            assert answer.end > answer.start
    same = sum(w[0].text == g[0].text for w, g in zip(expected, actual, strict=True))
    # Quantization noise flips near-ties of this random model; a systematic fault flips most.
    assert same >= 0.7 * len(questions)


@pytest.mark.parametrize("kind", ["onnx", "onnx-int8"])
def test_answers_do_not_depend_on_batch_size_or_order(
    tiny_spec: ModelSpec, onnx_cache_dir: Path, kind: str
) -> None:
    spec = ModelSpec("tiny", tiny_spec.model, tiny_spec.tokenizer, backend=kind)  # type: ignore[arg-type]
    questions, contexts = qa_pairs(12, seed=3)
    results = []
    for batch_size in (1, 5, 64):
        options = ReaderOptions(max_seq_len=128, doc_stride=32, batch_size=batch_size)
        reader = load_reader(spec, options=options, onnx_cache_dir=onnx_cache_dir)
        results.append(spans(reader.answer(questions, contexts, top_k=2)))
    results.append(spans(reader.answer(questions[::-1], contexts[::-1], top_k=2)[::-1]))
    assert all(result == results[0] for result in results)


def spans(results: list[list[Answer]]) -> list[list[tuple[str, int, int]]]:
    return [[(a.text, a.start, a.end) for a in answers] for answers in results]


def test_left_padded_batches_are_refused(tiny_model_dir: Path, onnx_cache_dir: Path) -> None:
    backend = create_backend("onnx", str(tiny_model_dir), onnx_cache_dir=onnx_cache_dir)
    input_ids = np.array([[0, 101, 2054, 102]], dtype=np.int64)
    with pytest.raises(InvalidInputError, match="right-padded"):
        backend.logits(input_ids, np.array([[0, 1, 1, 1]], dtype=np.int64), None)


def test_export_is_cached_per_weights(tmp_path: Path) -> None:
    model_dir = build_tiny_qa_model(tmp_path / "model", seed=1)
    cache_dir = tmp_path / "cache"
    first = ensure_onnx_model(str(model_dir), "fp32", cache_dir)
    assert first.path.name == FP32_FILE
    assert first.path.parent.name == model_fingerprint(model_dir)
    assert (first.path.parent / META_FILE).is_file()
    built_at = first.path.stat().st_mtime_ns
    assert ensure_onnx_model(str(model_dir), "fp32", cache_dir).path.stat().st_mtime_ns == built_at

    int8 = ensure_onnx_model(str(model_dir), "int8", cache_dir)
    assert int8.path == first.path.with_name(INT8_FILE)
    assert int8.path.stat().st_size < first.path.stat().st_size

    # New weights in the same directory (re-training) mean a new export.
    build_tiny_qa_model(model_dir, seed=2)
    weights = model_dir / "model.safetensors"
    os.utime(weights, ns=(built_at + 10**9, built_at + 10**9))
    retrained = ensure_onnx_model(str(model_dir), "fp32", cache_dir)
    assert retrained.path.parent != first.path.parent
    assert len(list(cache_dir.iterdir())) == 2


def test_unfinished_export_is_rebuilt(tmp_path: Path) -> None:
    model_dir = build_tiny_qa_model(tmp_path / "model", seed=1)
    built = ensure_onnx_model(str(model_dir), "int8", tmp_path / "cache")
    entry = built.path.parent
    (entry / META_FILE).unlink()  # as if the process died mid-export
    stale = (entry / INT8_FILE).stat().st_mtime_ns
    again = ensure_onnx_model(str(model_dir), "int8", tmp_path / "cache")
    assert (entry / META_FILE).is_file()
    assert again.path.stat().st_mtime_ns != stale


def test_onnx_backend_reports_the_model_limit(tiny_model_dir: Path, onnx_cache_dir: Path) -> None:
    backend = create_backend("onnx", str(tiny_model_dir), onnx_cache_dir=onnx_cache_dir)
    assert backend.max_sequence_length == 512


def test_onnx_backends_refuse_a_device_other_than_the_cpu(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    spec = ModelSpec("t", str(tiny_model_dir), str(tiny_model_dir), backend="onnx-int8")
    with pytest.raises(ConfigurationError, match="runs on the CPU only, not on 'cuda'"):
        load_reader(spec, onnx_cache_dir=tmp_path / "cache", device="cuda")
    assert not (tmp_path / "cache").exists()  # refused before any export


def test_default_cache_dir_follows_qaflow_home(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAFLOW_HOME", str(tmp_path))
    create_backend("onnx", str(tiny_model_dir))
    assert list((tmp_path / "cache" / "onnx").glob(f"*/{FP32_FILE}"))


def test_unknown_hub_id_while_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub_id = "qaflow-tests/no-such-model"
    spec = ModelSpec("missing", hub_id, hub_id, backend="onnx")
    with pytest.raises(ModelLoadError, match=f"'missing' \\(ref {hub_id}\\).*offline"):
        build_onnx_model(spec, int8=False, cache_dir=tmp_path)


@pytest.mark.parametrize("kind", ["onnx", "onnx-int8"])
def test_missing_onnxruntime_is_a_configuration_error(
    tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    spec = ModelSpec("tiny", tiny_spec.model, tiny_spec.tokenizer, backend=kind)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigurationError, match=r"needs ONNX Runtime: pip install 'qaflow\[onnx\]'"
    ):
        load_reader(spec)


def build_tiny_distilbert(directory: Path) -> Path:
    """A DistilBERT QA model: no token type embeddings, other attention and layer names."""
    import shutil

    import torch
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    from tests.support.tiny_model import TOKENIZER_FILES, bundled_tokenizer_dir

    directory.mkdir(parents=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(bundled_tokenizer_dir() / name, directory / name)
    config = DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, initializer_range=0.2
    )
    torch.manual_seed(0)
    DistilBertForQuestionAnswering(config).save_pretrained(directory)
    return directory


def test_model_without_token_types_exports_and_agrees(tmp_path: Path) -> None:
    model_dir = str(build_tiny_distilbert(tmp_path / "distilbert"))
    questions, contexts = qa_pairs(8, seed=5)
    results = []
    for kind in ("torch", "onnx"):
        spec = ModelSpec("distil", model_dir, model_dir, backend=kind)  # type: ignore[arg-type]
        reader = load_reader(spec, options=WINDOWED, onnx_cache_dir=tmp_path / "cache")
        results.append(spans(reader.answer(questions, contexts, top_k=2)))
    assert results[0] == results[1]
    assert ensure_onnx_model(model_dir, "fp32", tmp_path / "cache").input_names == (
        "input_ids",
        "attention_mask",
    )
