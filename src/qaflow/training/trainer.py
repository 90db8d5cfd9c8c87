"""The training loop: seeded, length-grouped, checkpointed, resumable exactly."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from qaflow.errors import ConfigurationError, ModelLoadError
from qaflow.training.batching import collate, epoch_batches, steps_per_epoch
from qaflow.training.checkpoint import (
    Trainables,
    TrainingState,
    list_checkpoints,
    restore_checkpoint,
    save_checkpoint,
)
from qaflow.training.config import TrainingConfig
from qaflow.training.data import seeded_subset
from qaflow.training.dev_eval import evaluate_live_model
from qaflow.training.distill import TeacherEnsemble, distillation_loss, load_teachers
from qaflow.training.finish import finish_run
from qaflow.training.optim import TimeBudget, build_optimizer, linear_schedule
from qaflow.training.prepare import PreparedData, prepare_data
from qaflow.training.runtime import Runtime, pick_runtime, resolve_base_model

logger = logging.getLogger("qaflow.training")

_SCRATCH_EVAL_DIR = ".dev-eval-model"


@dataclass(frozen=True)
class TrainOptions:
    """How to run (not what to train): resuming, early stop, threads, export only."""

    resume: bool = False
    stop_after_steps: int | None = None
    threads: int | None = None
    export_only: bool = False


@dataclass(frozen=True)
class TrainingOutcome:
    output_dir: Path
    global_step: int
    total_steps: int
    model_dir: Path | None
    dev_metrics: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.model_dir is not None


def train(config: TrainingConfig, options: TrainOptions | None = None) -> TrainingOutcome:
    """Run (or resume) the recipe; writes checkpoints, then the final model when done."""
    options = options or TrainOptions()
    runtime = pick_runtime(config.optimization.precision, options.threads)
    output_dir = config.run.output_dir
    _check_output_dir(output_dir, options)
    logger.info("training on %s", runtime.describe())
    base = resolve_base_model(config.model.base)
    tokenizer, model = _load_base(base, config.optimization.seed)
    data = prepare_data(config, tokenizer)
    if len(data.features) == 0:
        raise ConfigurationError("no training windows: the data files hold no usable questions")
    model.to(runtime.device)
    teachers = _load_teachers(config, tokenizer, runtime, options)
    opt = config.optimization
    total_steps = opt.max_steps or opt.epochs * steps_per_epoch(len(data.features), opt.batch_size)
    optimizer = build_optimizer(model, opt)
    budget = TimeBudget(opt.time_budget_minutes * 60 if opt.time_budget_minutes else None)
    warmup_steps = round(total_steps * opt.warmup_ratio)
    scheduler = linear_schedule(optimizer, warmup_steps, total_steps, budget)
    parts = Trainables(model, tokenizer, optimizer, scheduler)
    state = TrainingState(config_fingerprint=config.fingerprint())
    checkpoints = list_checkpoints(output_dir)
    if (options.resume or options.export_only) and checkpoints:
        state = restore_checkpoint(checkpoints[-1], parts, config.fingerprint())
        logger.info("resumed from %s (step %d)", checkpoints[-1], state.global_step)
    budget.used = state.train_seconds
    if not options.export_only:
        _Loop(config, options, runtime, data, parts, state, total_steps, budget, teachers).run()
    if not state.finished and not options.export_only:
        return TrainingOutcome(output_dir, state.global_step, total_steps, None, None)
    model_dir, dev_metrics = finish_run(config, runtime, base, data, parts, state, total_steps)
    return TrainingOutcome(output_dir, state.global_step, total_steps, model_dir, dev_metrics)


def _check_output_dir(output_dir: Path, options: TrainOptions) -> None:
    has_checkpoints = bool(list_checkpoints(output_dir))
    if options.export_only and not has_checkpoints:
        raise ConfigurationError(f"nothing to export: no checkpoint in {output_dir}")
    if has_checkpoints and not (options.resume or options.export_only):
        raise ConfigurationError(
            f"{output_dir} already holds checkpoints: pass --resume to continue that run, "
            "or choose another output directory"
        )
    output_dir.mkdir(parents=True, exist_ok=True)


def _load_base(base: str, seed: int) -> tuple[Any, Any]:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # The "qa_outputs newly initialized" report is expected, and per-save progress bars would
    # drown the training log.
    hf_logging.set_verbosity(logging.ERROR)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        torch.manual_seed(seed)  # the fresh span head is drawn from this
        model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load base model {base!r}: {exc}") from exc
    return tokenizer, model


def _load_teachers(
    config: TrainingConfig, tokenizer: Any, runtime: Runtime, options: TrainOptions
) -> TeacherEnsemble | None:
    teachers = config.distillation.teachers
    if not teachers or options.export_only:
        return None
    return load_teachers(teachers, tokenizer, runtime)


class _Loop:
    """The loop from ``state`` to the end of the schedule or an early stop."""

    def __init__(
        self,
        config: TrainingConfig,
        options: TrainOptions,
        runtime: Runtime,
        data: PreparedData,
        parts: Trainables,
        state: TrainingState,
        total_steps: int,
        budget: TimeBudget,
        teachers: TeacherEnsemble | None = None,
    ) -> None:
        self.config, self.options, self.runtime = config, options, runtime
        self.teachers = teachers
        self.data, self.parts, self.state, self.total_steps = data, parts, state, total_steps
        self.budget = budget
        self.lengths = data.features.lengths
        self.pad_id = parts.tokenizer.pad_token_id or 0
        self.eval_records = seeded_subset(
            data.dev_records, config.run.eval_max_examples, config.optimization.seed
        )
        self.last_checkpoint = time.monotonic()
        self.last_tick = time.monotonic()
        self.window = _LossWindow(runtime.device)

    def run(self) -> None:
        # No re-seeding here: a fresh run continues from the seed set before the head was
        # drawn, a resumed one from the RNG state its checkpoint restored.
        self.parts.model.train()
        run = self.config.run
        show_bar = run.progress == "bar" or (run.progress == "auto" and sys.stderr.isatty())
        bar = tqdm(
            total=self.total_steps,
            initial=self.state.global_step,
            disable=not show_bar,
            unit="step",
            dynamic_ncols=True,
        )
        with logging_redirect_tqdm(), bar:
            while not self.state.finished:
                if self._run_epoch(bar):
                    return

    def _run_epoch(self, bar: Any) -> bool:
        opt = self.config.optimization
        state = self.state
        batches = epoch_batches(
            self.lengths,
            opt.batch_size,
            opt.length_group_batches,
            opt.batch_order_seed,
            state.epoch,
        )
        while state.batch_in_epoch < len(batches) and not state.finished:
            indices = batches[state.batch_in_epoch]
            self._step(indices)
            state.batch_in_epoch += 1
            state.global_step += 1
            state.examples_seen += len(indices)
            epoch_done = state.batch_in_epoch >= len(batches)
            if epoch_done:
                # Advanced before _after_step so that a checkpoint here resumes at the next epoch.
                state.epoch += 1
                state.batch_in_epoch = 0
            bar.update(1)
            if self._after_step(bar):
                return True
            if epoch_done:
                return False
        return False

    def _step(self, indices: Any) -> None:
        parts = self.parts
        batch = collate(self.data.features, indices, self.pad_id)
        batch = {k: v.to(self.runtime.device, non_blocking=True) for k, v in batch.items()}
        with self.runtime.autocast():
            output = parts.model(**batch)
        loss = output.loss
        if self.teachers is not None:
            settings = self.config.distillation
            soft = distillation_loss(
                (output.start_logits, output.end_logits),
                self.teachers.logits(batch),
                batch["attention_mask"],
                settings.temperature,
            )
            loss = (1 - settings.weight) * loss + settings.weight * soft
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            parts.model.parameters(), self.config.optimization.max_grad_norm
        )
        parts.optimizer.step()
        self._tick()  # before the schedule steps: a time budget counts as progress
        parts.scheduler.step()
        parts.optimizer.zero_grad(set_to_none=True)
        self.window.add(loss.detach(), len(indices))

    def _after_step(self, bar: Any) -> bool:
        """Log, evaluate, checkpoint; True when the run should stop here."""
        run, state = self.config.run, self.state
        step = state.global_step
        state.finished = step >= self.total_steps or self.budget.exhausted
        if step % run.log_every_steps == 0 or state.finished:
            self._log(bar)
        if run.eval_every_steps and step % run.eval_every_steps == 0 and not state.finished:
            self._evaluate()
        stop = self.options.stop_after_steps is not None and step >= self.options.stop_after_steps
        if stop or state.finished or self._checkpoint_due():
            self._checkpoint()
        return stop

    def _tick(self) -> None:
        now = time.monotonic()
        self.state.train_seconds += now - self.last_tick
        self.budget.used = self.state.train_seconds
        self.last_tick = now

    def _log(self, bar: Any) -> None:
        loss, examples_per_second = self.window.drain()
        lr = float(self.parts.scheduler.get_last_lr()[0])
        entry = {"step": float(self.state.global_step), "loss": loss, "lr": lr}
        self.state.losses.append(entry | {"examples_per_second": examples_per_second})
        bar.set_postfix(loss=f"{loss:.3f}", ex_s=f"{examples_per_second:.1f}", refresh=False)
        if bar.disable:
            remaining = (self.total_steps - self.state.global_step) / max(
                self.state.global_step / max(self.state.train_seconds, 1e-9), 1e-9
            )
            if self.budget.seconds is not None:
                remaining = min(remaining, self.budget.seconds - self.budget.used)
            logger.info(
                "step %d/%d epoch %d loss %.4f lr %.2e %.1f ex/s elapsed %.1f min eta %.1f min",
                self.state.global_step,
                self.total_steps,
                self.state.epoch,
                loss,
                lr,
                examples_per_second,
                self.state.train_seconds / 60,
                remaining / 60,
            )

    def _evaluate(self) -> None:
        if not self.eval_records:
            return
        started = time.monotonic()
        scratch = self.config.run.output_dir / _SCRATCH_EVAL_DIR
        metrics = evaluate_live_model(
            self.parts.model,
            self.parts.tokenizer,
            self.eval_records,
            self.config,
            scratch,
            threads=self.runtime.threads,
            device=self.runtime.device.type,
        )
        self.parts.model.train()
        self.state.evaluations.append({"step": self.state.global_step} | metrics)
        logger.info(
            "dev @ step %d: EM %.2f F1 %.2f on %d questions (%.0f s)",
            self.state.global_step,
            metrics["exact_match"],
            metrics["f1"],
            metrics["count"],
            metrics["seconds"],
        )
        self._exclude_pause(started)

    def _checkpoint_due(self) -> bool:
        run = self.config.run
        by_steps = bool(
            run.checkpoint_every_steps and self.state.global_step % run.checkpoint_every_steps == 0
        )
        minutes = run.checkpoint_every_minutes
        by_time = minutes is not None and time.monotonic() - self.last_checkpoint >= minutes * 60
        return by_steps or by_time

    def _checkpoint(self) -> None:
        started = time.monotonic()
        path = save_checkpoint(
            self.config.run.output_dir, self.state, self.parts, self.config.run.keep_checkpoints
        )
        self.last_checkpoint = time.monotonic()
        self._exclude_pause(started)
        logger.info("checkpoint %s", path)

    def _exclude_pause(self, started: float) -> None:
        # Evaluation and checkpoint time count neither as training time nor against ex/s.
        paused = time.monotonic() - started
        self.last_tick += paused
        self.window.started += paused


class _LossWindow:
    """Mean loss and throughput since the last log line (one device sync per log line)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.loss_sum = torch.zeros((), device=self.device)
        self.steps = 0
        self.examples = 0
        self.started = time.monotonic()

    def add(self, loss: torch.Tensor, examples: int) -> None:
        self.loss_sum += loss.float()
        self.steps += 1
        self.examples += examples

    def drain(self) -> tuple[float, float]:
        mean = self.loss_sum.item() / max(self.steps, 1)
        rate = self.examples / max(time.monotonic() - self.started, 1e-9)
        self.reset()
        return mean, rate
