"""PyTorch backend: a Hugging Face ``AutoModelForQuestionAnswering`` in eval mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering

from qaflow.reader.backends.base import IdArray, LogitArray


class TorchBackend:
    """Runs a PyTorch QA model without gradients; deterministic because dropout is off."""

    def __init__(self, model: Any, *, device: str = "cpu") -> None:
        self._model = model.to(device).eval()
        self._device = torch.device(device)
        positions = getattr(model.config, "max_position_embeddings", None)
        self._max_sequence_length = positions if isinstance(positions, int) else None

    @classmethod
    def from_pretrained(
        cls, ref: str, *, threads: int | None = None, device: str = "cpu"
    ) -> TorchBackend:
        """Load weights from a hub id or local directory; third-party errors propagate.

        Callers hold :func:`qaflow.reader._hf.hf_loading` (the load lock, progress bars off)."""
        if threads is not None:
            # Process-wide in torch: the last loader wins, which is why settings pass one value.
            torch.set_num_threads(threads)
        model = AutoModelForQuestionAnswering.from_pretrained(ref, dtype=torch.float32)
        return cls(model, device=device)

    @property
    def max_sequence_length(self) -> int | None:
        return self._max_sequence_length

    def logits(
        self,
        input_ids: IdArray,
        attention_mask: IdArray,
        token_type_ids: IdArray | None,
    ) -> tuple[LogitArray, LogitArray]:
        inputs = {
            "input_ids": self._tensor(input_ids),
            "attention_mask": self._tensor(attention_mask),
        }
        if token_type_ids is not None:
            inputs["token_type_ids"] = self._tensor(token_type_ids)
        with torch.inference_mode():
            output = self._model(**inputs)
        return _to_numpy(output.start_logits), _to_numpy(output.end_logits)

    def _tensor(self, array: IdArray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)).to(self._device)


def _to_numpy(logits: torch.Tensor) -> LogitArray:
    array: LogitArray = logits.detach().to("cpu", torch.float32).numpy()
    return array
