"""Knowledge distillation: teachers' span distributions as soft targets for the student.

The teachers are finished QA models over the student's vocabulary, of any architecture: best a
bigger model than the student (a hub SQuAD model teaching the bundled-size one; Hinton et al.
2015). Several are averaged in logit space. Same-size runs of one lineage teach little: their
ensemble scores no better than their weight average (training/README.md has the figures)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.nn import functional

from qaflow.errors import ConfigurationError, ModelLoadError
from qaflow.training.runtime import Runtime

logger = logging.getLogger("qaflow.training")

# Logit for padding positions: far below any real logit, finite so that 0 * log 0 stays 0.
_MASKED = -1e4


class TeacherEnsemble:
    """Frozen teacher models whose start/end logits are averaged over the student's batches."""

    def __init__(self, models: Sequence[Any], runtime: Runtime) -> None:
        if not models:
            raise ConfigurationError("distillation needs at least one teacher")
        self._models = [model.to(runtime.device).eval().requires_grad_(False) for model in models]
        # What each teacher's forward takes of the student's batch: DistilBERT, say, has no
        # token_type_ids, and no teacher gets the gold positions.
        self._accepted = [_model_inputs(model) for model in self._models]
        self._runtime = runtime

    def logits(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean start and end logits (float32, batch x seq) of the teachers on ``batch``."""
        starts, ends = [], []
        with torch.no_grad(), self._runtime.autocast():
            for model, accepted in zip(self._models, self._accepted, strict=True):
                output = model(**{k: v for k, v in batch.items() if k in accepted})
                starts.append(output.start_logits.float())
                ends.append(output.end_logits.float())
        return torch.stack(starts).mean(0), torch.stack(ends).mean(0)


def _model_inputs(model: Any) -> frozenset[str]:
    parameters = inspect.signature(model.forward).parameters
    return frozenset(parameters) & {"input_ids", "attention_mask", "token_type_ids"}


def load_teachers(
    teachers: Sequence[str], student_tokenizer: Any, runtime: Runtime
) -> TeacherEnsemble:
    """Load each teacher; refuses one whose vocabulary differs from the student's."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    vocabulary = student_tokenizer.get_vocab()
    models = []
    for ref in teachers:
        try:
            tokenizer = AutoTokenizer.from_pretrained(ref)
            model = AutoModelForQuestionAnswering.from_pretrained(ref, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load teacher {ref!r}: {exc}") from exc
        if tokenizer.get_vocab() != vocabulary:
            raise ConfigurationError(
                f"teacher {ref!r} uses another vocabulary than the base model: its logits "
                "would score other tokens"
            )
        models.append(model)
    logger.info("distilling from %d teacher(s): %s", len(models), ", ".join(teachers))
    return TeacherEnsemble(models, runtime)


def distillation_loss(
    student: tuple[torch.Tensor, torch.Tensor],
    teacher: tuple[torch.Tensor, torch.Tensor],
    attention_mask: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """KL(teacher || student) of the start and end distributions at ``temperature``, averaged.

    Scaled by T² so that its gradients keep their size as the temperature changes; padding
    positions take no part in either distribution.
    """
    padding = attention_mask == 0
    losses = []
    for student_logits, teacher_logits in zip(student, teacher, strict=True):
        s = student_logits.float().masked_fill(padding, _MASKED) / temperature
        t = teacher_logits.float().masked_fill(padding, _MASKED) / temperature
        kl = functional.kl_div(
            functional.log_softmax(s, dim=-1),
            functional.log_softmax(t, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        losses.append(kl)
    return (losses[0] + losses[1]) / 2 * temperature**2
