"""AdamW without decay on biases and LayerNorm, and a linear warm-up/decay schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from qaflow.training.config import OptimizationSection

_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")


def build_optimizer(model: Any, settings: OptimizationSection) -> torch.optim.AdamW:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name.endswith(_NO_DECAY) else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


@dataclass
class TimeBudget:
    """Training seconds allowed (None: no limit) and used so far."""

    seconds: float | None
    used: float = 0.0

    @property
    def fraction(self) -> float:
        return 0.0 if self.seconds is None else self.used / self.seconds

    @property
    def exhausted(self) -> bool:
        return self.seconds is not None and self.used >= self.seconds


def linear_schedule(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    budget: TimeBudget | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to the peak rate, then linear decay to 0 at ``total_steps``.

    With a time budget, progress is the larger of steps done and time used, so the rate reaches
    0 when the budget runs out even if a shared machine made the steps slower than planned.
    """

    def factor(step: int) -> float:
        if budget is not None:
            step = max(step, int(budget.fraction * total_steps))
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = total_steps - step
        return max(0.0, remaining / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
