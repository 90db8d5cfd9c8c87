"""Writing the finished model: fp16 safetensors, tokenizer, model card and metrics."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from qaflow.training.card import CardFacts, render_model_card

FINAL_MODEL_DIR = "model"


def export_model(
    model: Any, tokenizer: Any, output_dir: Path, facts: CardFacts, metrics: Mapping[str, Any]
) -> Path:
    """Write ``<output_dir>/model`` (replacing an older export only once the new one is whole)."""
    target = output_dir / FINAL_MODEL_DIR
    partial = output_dir / f".partial-{FINAL_MODEL_DIR}"
    shutil.rmtree(partial, ignore_errors=True)
    half = copy.deepcopy(model).to(device="cpu", dtype=torch.float16)
    half.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "README.md").write_text(render_model_card(facts), "utf-8")
    (partial / "metrics.json").write_text(json.dumps(metrics, indent=2), "utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
