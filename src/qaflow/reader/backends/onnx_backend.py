"""ONNX Runtime backend: the model exported to ONNX (fp32 or dynamic int8) on the CPU."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from qaflow.errors import InvalidInputError
from qaflow.reader.backends.base import IdArray, LogitArray
from qaflow.reader.onnx_cache import OnnxModel, ensure_onnx_model
from qaflow.reader.onnx_export import OUTPUT_NAMES, OnnxPrecision

# What padded positions get when windows run one by one (callers trim them off anyway).
_PADDING_LOGIT = np.float32(-10000.0)


class OnnxBackend:
    """Runs an exported QA graph; ``InferenceSession.run`` is safe to call from many threads.

    Each window (row) of a batch runs alone, trimmed to its length, so batches must be
    right-padded (as :func:`~qaflow.reader.batching.pad_batch` makes them). The int8 graph needs
    that: dynamic quantization scales activations by the range of the whole input tensor, so
    rows run together would change each other's answers, and so would padding. It also pays for
    fp32: no FLOPs go to padding, and ONNX Runtime's kernels are as efficient on one window
    (~100-384 tokens) as on a batch of them. Up to ``concurrency`` windows run at once: their
    operators interleave on the intra-op pool, which keeps the cores busy where one window's
    serial stretches (LayerNorm, softmax, thread wake-ups) would leave them idle.
    """

    def __init__(
        self, session: Any, *, max_sequence_length: int | None, concurrency: int = 1
    ) -> None:
        self._session = session
        self._input_names = frozenset(node.name for node in session.get_inputs())
        self._max_sequence_length = max_sequence_length
        self._pool = (
            ThreadPoolExecutor(concurrency, thread_name_prefix="qaflow-onnx")
            if concurrency > 1
            else None
        )

    @classmethod
    def from_pretrained(
        cls, ref: str, *, precision: OnnxPrecision, cache_dir: Path, threads: int | None = None
    ) -> OnnxBackend:
        """Open the cached graph of ``ref``, exporting it first if needed; errors propagate."""
        return cls.from_onnx_model(ensure_onnx_model(ref, precision, cache_dir), threads=threads)

    @classmethod
    def from_onnx_model(cls, model: OnnxModel, *, threads: int | None = None) -> OnnxBackend:
        session = ort.InferenceSession(
            str(model.path), session_options(threads), providers=["CPUExecutionProvider"]
        )
        return cls(
            session,
            max_sequence_length=model.max_position_embeddings,
            concurrency=threads or os.cpu_count() or 1,
        )

    @property
    def max_sequence_length(self) -> int | None:
        return self._max_sequence_length

    def logits(
        self,
        input_ids: IdArray,
        attention_mask: IdArray,
        token_type_ids: IdArray | None,
    ) -> tuple[LogitArray, LogitArray]:
        if not _right_padded(attention_mask):
            raise InvalidInputError("the ONNX backends need right-padded batches (mask 1s then 0s)")
        feed = self._feed(input_ids, attention_mask, token_type_ids)
        start = np.full(input_ids.shape, _PADDING_LOGIT, dtype=np.float32)
        end = start.copy()

        def run_window(row: int, length: int) -> None:
            window = {name: array[row : row + 1, :length] for name, array in feed.items()}
            start[row, :length], end[row, :length] = (logits[0] for logits in self._run(window))

        lengths = attention_mask.sum(axis=1).tolist()
        windows = [(row, length) for row, length in enumerate(lengths) if length > 0]
        if self._pool is None or len(windows) == 1:
            for row, length in windows:
                run_window(row, length)
        else:
            for done in [self._pool.submit(run_window, *window) for window in windows]:
                done.result()
        return start, end

    def _feed(
        self, input_ids: IdArray, attention_mask: IdArray, token_type_ids: IdArray | None
    ) -> dict[str, IdArray]:
        feed = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        if "token_type_ids" in self._input_names:
            # Tokenizers of models without segment embeddings in use (RoBERTa) give none.
            feed["token_type_ids"] = (
                np.zeros_like(feed["input_ids"])
                if token_type_ids is None
                else np.ascontiguousarray(token_type_ids, dtype=np.int64)
            )
        return feed

    def _run(self, feed: dict[str, IdArray]) -> tuple[LogitArray, LogitArray]:
        start, end = self._session.run(list(OUTPUT_NAMES), feed)
        return start.astype(np.float32, copy=False), end.astype(np.float32, copy=False)


def _right_padded(attention_mask: IdArray) -> bool:
    return bool(np.all(attention_mask[:, :-1] >= attention_mask[:, 1:]))


def session_options(threads: int | None) -> ort.SessionOptions:
    """All graph optimizations; ``threads`` intra-op threads (None: one per physical core)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    # Idle pool threads sleep instead of spinning: a server shares its cores with tokenization,
    # the event loop and other processes, which spinning would starve.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
