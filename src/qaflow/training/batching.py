"""Length-grouped batches with dynamic padding, in an order fixed by (seed, epoch).

The order is a pure function of the seed and the epoch, so a resumed run rebuilds it and skips
the batches already done instead of storing a sampler.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from qaflow.training.features import TrainFeatures

_PAD_MULTIPLE = 8


def epoch_batches(
    lengths: npt.NDArray[np.int64], batch_size: int, group_batches: int, seed: int, epoch: int
) -> list[npt.NDArray[np.int64]]:
    """Shuffle, sort pools of ``group_batches`` batches by length, cut, shuffle the batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool_size = batch_size * group_batches
    batches: list[npt.NDArray[np.int64]] = []
    for pool_start in range(0, len(order), pool_size):
        pool = order[pool_start : pool_start + pool_size]
        pool = pool[np.argsort(-lengths[pool], kind="stable")]
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def collate(
    features: TrainFeatures, indices: npt.NDArray[np.int64], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """Tensors for one batch, padded to its longest window (rounded up to a multiple of 8)."""
    longest = max(len(features.input_ids[i]) for i in indices)
    width = -(-longest // _PAD_MULTIPLE) * _PAD_MULTIPLE
    input_ids = np.full((len(indices), width), pad_token_id, dtype=np.int64)
    token_type_ids = np.zeros((len(indices), width), dtype=np.int64)
    attention_mask = np.zeros((len(indices), width), dtype=np.int64)
    for row, index in enumerate(indices):
        ids = features.input_ids[index]
        input_ids[row, : len(ids)] = ids
        token_type_ids[row, : len(ids)] = features.token_type_ids[index]
        attention_mask[row, : len(ids)] = 1
    return {
        "input_ids": torch.from_numpy(input_ids),
        "token_type_ids": torch.from_numpy(token_type_ids),
        "attention_mask": torch.from_numpy(attention_mask),
        "start_positions": torch.from_numpy(features.start_positions[indices]),
        "end_positions": torch.from_numpy(features.end_positions[indices]),
    }
