"""The interface every inference backend implements (optimum-style: arrays in, logits out)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.int64]
LogitArray = npt.NDArray[np.float32]


@runtime_checkable
class QABackend(Protocol):
    """Runs an extractive QA model on padded token batches."""

    @property
    def max_sequence_length(self) -> int | None:
        """The longest input the model accepts (position embeddings), if known."""
        ...

    def logits(
        self,
        input_ids: IdArray,
        attention_mask: IdArray,
        token_type_ids: IdArray | None,
    ) -> tuple[LogitArray, LogitArray]:
        """Start and end logits, float32 of shape (batch, seq)."""
        ...
