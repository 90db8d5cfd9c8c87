"""qaflow's recipe for training its own extractive QA model (MiniLM-L6 + a span head).

Run it with ``qaflow train CONFIG.toml`` or ``python -m qaflow.training CONFIG.toml``.
"""

from qaflow.training.config import TrainingConfig, load_training_config, load_with_overrides
from qaflow.training.trainer import TrainingOutcome, TrainOptions, train

__all__ = [
    "TrainOptions",
    "TrainingConfig",
    "TrainingOutcome",
    "load_training_config",
    "load_with_overrides",
    "train",
]
