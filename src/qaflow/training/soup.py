"""Averaging the weights of fine-tuned models that share an ancestor (a "model soup").

Runs that continue one another, or that start from one model with other settings, land in one
basin of the loss; their mean is often better than either (Wortsman et al. 2022). Used for the
bundled model: ``python -m qaflow.training.soup OUT MODEL_DIR MODEL_DIR [...]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from qaflow.errors import ConfigurationError, NotFoundError, QaflowError

WEIGHTS_FILE = "model.safetensors"
# Everything but the weights comes from the first model: the soup has its architecture.
_CARRIED = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def average_models(model_dirs: Sequence[Path], output_dir: Path) -> Path:
    """Write the element-wise mean of the models' weights (fp16, like qaflow's exports)."""
    if len(model_dirs) < 2:
        raise ConfigurationError("averaging needs at least two model directories")
    states = [_load(directory) for directory in model_dirs]
    first = states[0]
    for directory, state in zip(model_dirs[1:], states[1:], strict=True):
        _check_same_shapes(model_dirs[0], first, directory, state)
    mean = {
        name: (torch.stack([state[name].float() for state in states]).mean(dim=0)).to(torch.float16)
        for name in first
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    save_file(mean, str(output_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    for name in _CARRIED:
        if (model_dirs[0] / name).is_file():
            shutil.copy2(model_dirs[0] / name, output_dir / name)
    parents = [str(directory) for directory in model_dirs]
    (output_dir / "soup.json").write_text(json.dumps({"averaged": parents}, indent=2), "utf-8")
    return output_dir


def _load(directory: Path) -> dict[str, torch.Tensor]:
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise NotFoundError(f"no {WEIGHTS_FILE} in {directory}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ConfigurationError(f"{path}: not readable safetensors: {exc}") from exc


def _check_same_shapes(
    first_dir: Path,
    first: dict[str, torch.Tensor],
    other_dir: Path,
    other: dict[str, torch.Tensor],
) -> None:
    if first.keys() != other.keys():
        missing = sorted(first.keys() ^ other.keys())[:3]
        raise ConfigurationError(
            f"{other_dir} and {first_dir} have different weights (e.g. {', '.join(missing)}): "
            "only models of one architecture can be averaged"
        )
    for name, tensor in first.items():
        if tensor.shape != other[name].shape:
            raise ConfigurationError(
                f"{name} is {tuple(other[name].shape)} in {other_dir} but "
                f"{tuple(tensor.shape)} in {first_dir}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qaflow.training.soup", description=__doc__)
    parser.add_argument("output_dir", type=Path, help="where the averaged model goes")
    parser.add_argument("model_dirs", type=Path, nargs="+", help="two or more model directories")
    args = parser.parse_args(argv)
    try:
        average_models(args.model_dirs, args.output_dir)
    except QaflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"averaged {len(args.model_dirs)} models into {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
