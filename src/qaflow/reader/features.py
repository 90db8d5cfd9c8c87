"""Tokenization into model windows ("features"): question first, context second, sliding windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qaflow.reader.backends.base import IdArray
from qaflow.reader.types import ReaderOptions

BoolArray = npt.NDArray[np.bool_]

# The context is the second sequence of each pair.
_CONTEXT_SEQUENCE = 1


@dataclass(frozen=True, slots=True)
class Feature:
    """One window of one example: token ids plus what maps tokens back to context characters."""

    example_index: int
    input_ids: IdArray
    token_type_ids: IdArray | None
    offsets: IdArray  # (tokens, 2) character offsets into the context
    context_mask: BoolArray  # True where the token belongs to the context
    cls_index: int

    def __len__(self) -> int:
        return len(self.input_ids)


def truncate_questions(tokenizer: Any, questions: Sequence[str], max_tokens: int) -> list[str]:
    """Cut each question to at most ``max_tokens`` tokens, at a word boundary where possible."""
    encoded = tokenizer(
        list(questions), add_special_tokens=False, return_offsets_mapping=True, truncation=False
    )
    truncated: list[str] = []
    for index, question in enumerate(questions):
        offsets = encoded["offset_mapping"][index]
        if len(offsets) <= max_tokens:
            truncated.append(question)
            continue
        cut = _word_boundary_cut(offsets, encoded.word_ids(index), max_tokens)
        truncated.append(question[:cut].rstrip())
    return truncated


def _word_boundary_cut(
    offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], max_tokens: int
) -> int:
    first_dropped = max_tokens
    word = word_ids[first_dropped]
    if word is not None:
        # Re-tokenizing half a word can yield more pieces than the whole word did; drop it whole.
        while first_dropped > 0 and word_ids[first_dropped - 1] == word:
            first_dropped -= 1
    if first_dropped == 0:
        return offsets[max_tokens - 1][1]
    return offsets[first_dropped][0]


def encode_features(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    options: ReaderOptions,
) -> list[Feature]:
    """Tokenize all pairs in one call; long contexts overflow into overlapping windows."""
    encoded = tokenizer(
        truncate_questions(tokenizer, questions, options.max_question_len),
        list(contexts),
        truncation="only_second",
        max_length=options.max_seq_len,
        stride=options.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    type_ids = encoded.get("token_type_ids")
    cls_id = tokenizer.cls_token_id
    features: list[Feature] = []
    for row, example_index in enumerate(encoded["overflow_to_sample_mapping"]):
        input_ids = np.asarray(encoded["input_ids"][row], dtype=np.int64)
        sequence_ids = encoded.sequence_ids(row)
        features.append(
            Feature(
                example_index=int(example_index),
                input_ids=input_ids,
                token_type_ids=None
                if type_ids is None
                else np.asarray(type_ids[row], dtype=np.int64),
                offsets=np.asarray(encoded["offset_mapping"][row], dtype=np.int64).reshape(-1, 2),
                context_mask=np.fromiter(
                    (seq == _CONTEXT_SEQUENCE for seq in sequence_ids),
                    dtype=np.bool_,
                    count=len(sequence_ids),
                ),
                cls_index=_cls_index(input_ids, cls_id),
            )
        )
    return features


def _cls_index(input_ids: IdArray, cls_id: int | None) -> int:
    if cls_id is None:
        return 0
    hits = np.flatnonzero(input_ids == cls_id)
    return int(hits[0]) if hits.size else 0
