"""Training checkpoints: model, optimizer, scheduler, RNG and data position, written atomically.

Layout: ``<output>/checkpoints/step-00001234/`` with ``model/`` (a loadable Hugging Face model
directory, fp32, with the tokenizer), ``optimizer.pt``, ``scheduler.pt``, ``rng.pt`` and
``state.json``. A checkpoint directory only appears once it is complete.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from qaflow.errors import ConfigurationError

_PREFIX = "step-"


@dataclass
class TrainingState:
    """Where the run is; enough, with the config, to continue it exactly."""

    config_fingerprint: str
    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    examples_seen: int = 0
    train_seconds: float = 0.0
    finished: bool = False
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    losses: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Trainables:
    """The objects a checkpoint saves and restores in place."""

    model: Any
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def checkpoints_dir(output_dir: Path) -> Path:
    return output_dir / "checkpoints"


def save_checkpoint(output_dir: Path, state: TrainingState, parts: Trainables, keep: int) -> Path:
    """Write a checkpoint for ``state.global_step`` and prune all but the newest ``keep``."""
    root = checkpoints_dir(output_dir)
    final = root / f"{_PREFIX}{state.global_step:08d}"
    partial = root / f".partial-{final.name}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    parts.model.save_pretrained(partial / "model")
    parts.tokenizer.save_pretrained(partial / "model")
    torch.save(parts.optimizer.state_dict(), partial / "optimizer.pt")
    torch.save(parts.scheduler.state_dict(), partial / "scheduler.pt")
    torch.save(_rng_state(), partial / "rng.pt")
    (partial / "state.json").write_text(json.dumps(asdict(state), indent=1), "utf-8")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoints_dir(output_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))


def read_state(checkpoint: Path) -> TrainingState:
    return TrainingState(**json.loads((checkpoint / "state.json").read_text("utf-8")))


def restore_checkpoint(checkpoint: Path, parts: Trainables, fingerprint: str) -> TrainingState:
    """Load a checkpoint into ``parts`` (model weights included) and return its state."""
    state = read_state(checkpoint)
    if state.config_fingerprint != fingerprint:
        raise ConfigurationError(
            f"{checkpoint} was written with different training settings "
            f"({state.config_fingerprint} != {fingerprint}); resume with the same config"
        )
    from safetensors.torch import load_file

    weights = load_file(str(checkpoint / "model" / "model.safetensors"))
    parts.model.load_state_dict(weights, strict=True)
    parts.optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    parts.scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
    _set_rng_state(torch.load(checkpoint / "rng.pt", weights_only=True))
    return state


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
