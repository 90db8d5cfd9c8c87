"""Dynamic-padding batches: features sorted by length so each batch pads only to its longest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qaflow.reader.backends.base import IdArray, LogitArray, QABackend
from qaflow.reader.features import Feature

WindowLogits = tuple[LogitArray, LogitArray]


def run_batches(
    backend: QABackend, features: Sequence[Feature], *, batch_size: int, pad_id: int
) -> list[WindowLogits]:
    """Start/end logits for every feature, trimmed to its own length, in input order."""
    order = sorted(range(len(features)), key=lambda index: len(features[index]))
    results: dict[int, WindowLogits] = {}
    for first in range(0, len(order), batch_size):
        indices = order[first : first + batch_size]
        batch = [features[index] for index in indices]
        input_ids, attention_mask, token_type_ids = pad_batch(batch, pad_id)
        start, end = backend.logits(input_ids, attention_mask, token_type_ids)
        for row, index in enumerate(indices):
            length = len(features[index])
            results[index] = (start[row, :length], end[row, :length])
    return [results[index] for index in range(len(features))]


def pad_batch(batch: Sequence[Feature], pad_id: int) -> tuple[IdArray, IdArray, IdArray | None]:
    """Right-pad ids, attention mask and (when the model uses them) token types to one width."""
    width = max(len(feature) for feature in batch)
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(batch), width), dtype=np.int64)
    uses_types = batch[0].token_type_ids is not None
    token_type_ids = np.zeros((len(batch), width), dtype=np.int64) if uses_types else None
    for row, feature in enumerate(batch):
        length = len(feature)
        input_ids[row, :length] = feature.input_ids
        attention_mask[row, :length] = 1
        if token_type_ids is not None and feature.token_type_ids is not None:
            token_type_ids[row, :length] = feature.token_type_ids
    return input_ids, attention_mask, token_type_ids
