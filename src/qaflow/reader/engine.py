"""The reader: tokenizer + windowing + batching + decoding over one backend."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qaflow.errors import InvalidInputError
from qaflow.reader.backends import QABackend, check_backend
from qaflow.reader.batching import run_batches
from qaflow.reader.decoding import SpanRules, Window, decode_answers
from qaflow.reader.features import Feature, encode_features
from qaflow.reader.loading import check_options_fit, load_backend, load_tokenizer
from qaflow.reader.types import Answer, ModelSpec, ReaderOptions


class Reader:
    """Answers questions about contexts with one extractive QA model.

    Safe to share between threads: tokenizer calls are serialised (the Rust tokenizer's
    truncation state is per instance), forward passes run concurrently.
    """

    def __init__(
        self, spec: ModelSpec, options: ReaderOptions, tokenizer: Any, backend: QABackend
    ) -> None:
        self.spec = spec
        self.options = options
        self._tokenizer = tokenizer
        self._backend = backend
        self._tokenizer_lock = threading.Lock()

    def answer(
        self, questions: Sequence[str], contexts: Sequence[str], *, top_k: int = 1
    ) -> list[list[Answer]]:
        """For each (question, context) pair, its ``top_k`` best answers, best first."""
        _validate(questions, contexts, top_k)
        if not questions:
            return []
        with self._tokenizer_lock:
            features = encode_features(self._tokenizer, questions, contexts, self.options)
        logits = run_batches(
            self._backend,
            features,
            batch_size=self.options.batch_size,
            pad_id=self._tokenizer.pad_token_id or 0,
        )
        windows: list[list[Window]] = [[] for _ in questions]
        for feature, (start, end) in zip(features, logits, strict=True):
            windows[feature.example_index].append(_window(feature, start, end))
        rules = SpanRules(
            top_k=top_k,
            max_answer_len=self.options.max_answer_len,
            handle_impossible=self.options.handle_impossible,
        )
        return [
            decode_answers(example_windows, context, rules)
            for example_windows, context in zip(windows, contexts, strict=True)
        ]

    def answer_one(self, question: str, context: str, *, top_k: int = 1) -> list[Answer]:
        """The ``top_k`` best answers to one question, best first."""
        return self.answer([question], [context], top_k=top_k)[0]

    def __repr__(self) -> str:
        return f"Reader(spec={self.spec!r}, options={self.options!r})"


def load_reader(
    spec: ModelSpec,
    *,
    options: ReaderOptions | None = None,
    threads: int | None = None,
    onnx_cache_dir: Path | None = None,
    device: str = "cpu",
) -> Reader:
    """Load the tokenizer and model of ``spec``; raises ModelLoadError or ConfigurationError.

    ONNX backends keep their exports in ``onnx_cache_dir`` (default ``<QAFLOW_HOME>/cache/onnx``).
    ``device`` places a torch model's forward passes (``"cuda"``); the rest runs on the CPU.
    """
    options = options or ReaderOptions()
    check_backend(spec.backend)
    tokenizer = load_tokenizer(spec)
    backend = load_backend(spec, threads=threads, onnx_cache_dir=onnx_cache_dir, device=device)
    check_options_fit(spec, options, tokenizer, backend.max_sequence_length)
    return Reader(spec, options, tokenizer, backend)


def _window(feature: Feature, start: Any, end: Any) -> Window:
    return Window(
        start_logits=start,
        end_logits=end,
        offsets=feature.offsets,
        context_mask=feature.context_mask,
        cls_index=feature.cls_index,
    )


def _validate(questions: Sequence[str], contexts: Sequence[str], top_k: int) -> None:
    if isinstance(questions, str) or isinstance(contexts, str):
        raise InvalidInputError("questions and contexts must be sequences of strings, not strings")
    if len(questions) != len(contexts):
        raise InvalidInputError(
            f"got {len(questions)} questions but {len(contexts)} contexts; they must pair up"
        )
    if top_k < 1:
        raise InvalidInputError(f"top_k must be at least 1, got {top_k}")
    for kind, texts in (("question", questions), ("context", contexts)):
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(f"{kind} at index {index} is not a string")
            if not text.strip():
                raise InvalidInputError(f"{kind} at index {index} is empty")
