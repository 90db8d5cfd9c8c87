"""The end of a run: final dev evaluation, metrics, model card, fp16 export."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

import torch
import transformers

import qaflow
from qaflow.training.card import CardFacts
from qaflow.training.checkpoint import Trainables, TrainingState
from qaflow.training.config import TrainingConfig
from qaflow.training.dev_eval import evaluate_live_model
from qaflow.training.export import export_model
from qaflow.training.prepare import PreparedData, final_eval_records
from qaflow.training.runtime import Runtime

logger = logging.getLogger("qaflow.training")


def finish_run(
    config: TrainingConfig,
    runtime: Runtime,
    base: str,
    data: PreparedData,
    parts: Trainables,
    state: TrainingState,
    total_steps: int,
) -> tuple[Path, dict[str, Any]]:
    """Score the dev split and write ``<output_dir>/model`` with its card and metrics."""
    output_dir = config.run.output_dir
    records = final_eval_records(config, data.dev_records)
    dev: dict[str, Any] = {"exact_match": 0.0, "f1": 0.0, "count": 0, "by_source": {}}
    if records:
        dev = evaluate_live_model(
            parts.model,
            parts.tokenizer,
            records,
            config,
            output_dir / ".final-eval-model",
            threads=runtime.threads,
            device=runtime.device.type,
        )
        logger.info(
            "final dev: EM %.2f F1 %.2f on %d questions",
            dev["exact_match"],
            dev["f1"],
            dev["count"],
        )
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "qaflow": qaflow.__version__,
    }
    metrics = {
        "model": config.model.name,
        "dev": dev,
        "global_step": state.global_step,
        "total_steps": total_steps,
        "examples_seen": state.examples_seen,
        "train_seconds": state.train_seconds,
        "hardware": runtime.describe(),
        "versions": versions,
        "record_counts": data.counts,
        "evaluations": state.evaluations,
        "losses": state.losses,
        "config": config.model_dump(mode="json"),
    }
    facts = CardFacts(
        config=config,
        base_model=base,
        dev_metrics=dev,
        record_counts=data.counts,
        hardware=runtime.describe(),
        train_seconds=state.train_seconds,
        global_step=state.global_step,
        stop_note=_stop_note(config, state, total_steps),
        examples_seen=state.examples_seen,
        versions=versions,
        evaluations=state.evaluations,
    )
    model_dir = export_model(parts.model, parts.tokenizer, output_dir, facts, metrics)
    logger.info("wrote %s", model_dir)
    return model_dir, dev


def _stop_note(config: TrainingConfig, state: TrainingState, total_steps: int) -> str:
    if not state.finished:
        return f" (exported early: the schedule had {total_steps})"
    if state.global_step < total_steps:
        budget = config.optimization.time_budget_minutes
        return f" (the {budget:g}-minute time budget ended the schedule of {total_steps})"
    return ""
