"""Tokenized training windows: question + a context window, with the answer's token span.

The standard Hugging Face recipe: long contexts are cut into overlapping windows; a window that
does not hold the whole answer is labelled with the CLS token (position 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qaflow.training.data import QaRecord

_CHUNK = 512


@dataclass(frozen=True)
class WindowSettings:
    max_seq_len: int
    doc_stride: int
    max_question_len: int
    max_negative_windows: int | None


@dataclass
class TrainFeatures:
    """Variable-length windows (no padding) and their answer token positions."""

    input_ids: list[npt.NDArray[np.int32]]
    token_type_ids: list[npt.NDArray[np.int8]]
    start_positions: npt.NDArray[np.int64]
    end_positions: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        return np.array([len(ids) for ids in self.input_ids], dtype=np.int64)

    @property
    def answerable_share(self) -> float:
        return float(np.mean(self.start_positions > 0)) if len(self) else 0.0


def build_features(
    records: Sequence[QaRecord], tokenizer: Any, settings: WindowSettings, seed: int
) -> TrainFeatures:
    """Tokenize every record into windows; negative windows are capped per record if asked."""
    rng = np.random.default_rng(seed)
    features = TrainFeatures([], [], np.zeros(0, np.int64), np.zeros(0, np.int64))
    starts: list[int] = []
    ends: list[int] = []
    for offset in range(0, len(records), _CHUNK):
        chunk = records[offset : offset + _CHUNK]
        questions = _truncate_questions([r.question for r in chunk], tokenizer, settings)
        encoded = tokenizer(
            questions,
            [r.context for r in chunk],
            truncation="only_second",
            max_length=settings.max_seq_len,
            stride=settings.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        per_record: dict[int, list[tuple[int, int, int]]] = {}
        for window, record_index in enumerate(encoded["overflow_to_sample_mapping"]):
            start, end = _answer_tokens(encoded, window, chunk[record_index])
            per_record.setdefault(record_index, []).append((window, start, end))
        for windows in per_record.values():
            for window, start, end in _cap_negatives(windows, settings.max_negative_windows, rng):
                features.input_ids.append(np.asarray(encoded["input_ids"][window], np.int32))
                features.token_type_ids.append(
                    np.asarray(encoded["token_type_ids"][window], np.int8)
                )
                starts.append(start)
                ends.append(end)
    features.start_positions = np.asarray(starts, np.int64)
    features.end_positions = np.asarray(ends, np.int64)
    return features


def _truncate_questions(
    questions: list[str], tokenizer: Any, settings: WindowSettings
) -> list[str]:
    # Over-long questions would leave no room for context; cut them at a token boundary.
    questions = [q.lstrip() for q in questions]
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    limit = settings.max_question_len
    return [
        q if len(offsets) <= limit else q[: offsets[limit - 1][1]]
        for q, offsets in zip(questions, encoded["offset_mapping"], strict=True)
    ]


def _answer_tokens(encoded: Any, window: int, record: QaRecord) -> tuple[int, int]:
    sequence_ids = encoded.sequence_ids(window)
    offsets = encoded["offset_mapping"][window]
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    answer_start = record.answer_start
    answer_end = answer_start + len(record.answer_text)
    if offsets[first][0] > answer_start or offsets[last][1] < answer_end:
        return 0, 0
    start = first
    while start <= last and offsets[start][1] <= answer_start:
        start += 1
    end = last
    while end >= first and offsets[end][0] >= answer_end:
        end -= 1
    return (start, end) if start <= end else (0, 0)


def _cap_negatives(
    windows: list[tuple[int, int, int]], cap: int | None, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    negatives = [w for w in windows if w[1] == 0]
    if cap is None or len(negatives) <= cap:
        return windows
    kept = {negatives[i][0] for i in rng.choice(len(negatives), size=cap, replace=False)}
    return [w for w in windows if w[1] != 0 or w[0] in kept]
