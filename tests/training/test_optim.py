import pytest
import torch

from qaflow.training.optim import TimeBudget, linear_schedule


def _rates(budget: TimeBudget | None, steps: int, used_per_step: float = 0.0) -> list[float]:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = linear_schedule(optimizer, warmup_steps=2, total_steps=10, budget=budget)
    rates = [schedule.get_last_lr()[0]]
    for _ in range(steps):
        optimizer.step()
        if budget is not None:
            budget.used += used_per_step
        schedule.step()
        rates.append(schedule.get_last_lr()[0])
    return rates


def test_linear_warmup_then_decay_to_zero() -> None:
    rates = _rates(None, 10)
    assert rates[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert rates[6] == pytest.approx(0.5)
    assert rates[10] == 0.0


def test_time_progress_overtakes_slow_steps() -> None:
    budget = TimeBudget(seconds=100.0)
    rates = _rates(budget, 4, used_per_step=25.0)  # the whole budget in 4 of 10 steps
    assert rates[2] == pytest.approx(5 / 8)  # half the time used: like step 5 of 10
    assert rates[4] == 0.0
    assert budget.exhausted


def test_no_budget_never_runs_out() -> None:
    budget = TimeBudget(seconds=None, used=1e9)
    assert budget.fraction == 0.0
    assert not budget.exhausted
