"""Averaging the weights of fine-tuned models that share an ancestor (a "model soup").

Runs that continue one another, or that start from one model with other settings, land in one
basin of the loss; their mean is often better than either (Wortsman et al. 2022). Used for the
bundled model: ``python -m qaflow.training.soup OUT MODEL_DIR MODEL_DIR [...]`` averages them
all; with ``--greedy CONFIG`` the models join best first, each only if the mean scores higher
on CONFIG's dev split (the paper's greedy soup), and OUT/metrics.json records the choice.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from qaflow.errors import ConfigurationError, NotFoundError, QaflowError
from qaflow.reader.fingerprint import is_config_file
from qaflow.training.config import add_assignment_option, load_with_overrides
from qaflow.training.dev_eval import evaluate_model_dir
from qaflow.training.prepare import final_eval_records, read_split
from qaflow.training.runtime import pick_runtime

WEIGHTS_FILE = "model.safetensors"


def average_models(model_dirs: Sequence[Path], output_dir: Path) -> Path:
    """Write the element-wise mean of the models' weights (fp16, like qaflow's exports)."""
    if len(model_dirs) < 2:
        raise ConfigurationError("averaging needs at least two model directories")
    _check_fresh(output_dir)
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
    # Config and tokenizer come from the first model: the soup has its architecture.
    for source in model_dirs[0].iterdir():
        if source.is_file() and is_config_file(source.name):
            shutil.copy2(source, output_dir / source.name)
    parents = [str(directory) for directory in model_dirs]
    (output_dir / "soup.json").write_text(json.dumps({"averaged": parents}, indent=2), "utf-8")
    return output_dir


Scorer = Callable[[Path], dict[str, Any]]


@dataclass(frozen=True)
class SoupOutcome:
    output_dir: Path
    ingredients: list[Path]
    dev: dict[str, Any]
    tried: list[dict[str, Any]]


def greedy_soup(candidates: Sequence[Path], output_dir: Path, score: Scorer) -> SoupOutcome:
    """Start from the best-scoring model; add each next one only if the mean's F1 goes up."""
    if len(candidates) < 2:
        raise ConfigurationError("a soup needs at least two model directories")
    _check_fresh(output_dir)
    scored = sorted(((score(path), path) for path in candidates), key=lambda pair: -pair[0]["f1"])
    best, ingredients = scored[0][0], [scored[0][1]]
    singles = [{"model": str(path), "f1": result["f1"]} for result, path in scored]
    tried = [{"models": [str(scored[0][1])], "f1": best["f1"], "kept": True}]
    scratch = output_dir.with_name(f".trial-{output_dir.name}")
    for _, path in scored[1:]:
        shutil.rmtree(scratch, ignore_errors=True)
        average_models([*ingredients, path], scratch)
        trial = score(scratch)
        kept = trial["f1"] > best["f1"]
        tried.append(
            {"models": [str(p) for p in [*ingredients, path]], "f1": trial["f1"], "kept": kept}
        )
        if kept:
            best, ingredients = trial, [*ingredients, path]
            shutil.rmtree(output_dir, ignore_errors=True)
            scratch.rename(output_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    if len(ingredients) == 1:  # nothing helped: the soup is the best model itself
        shutil.rmtree(output_dir, ignore_errors=True)
        shutil.copytree(ingredients[0], output_dir)
    # Every candidate's own score comes from the same scorer as the soup's, so a caller choosing
    # between runs and soup (training/device/sweep.sh) compares like with like.
    metrics = {
        "dev": best,
        "soup": [str(p) for p in ingredients],
        "singles": singles,
        "tried": tried,
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), "utf-8")
    return SoupOutcome(output_dir, ingredients, best, tried)


def dev_scorer(
    config_path: Path,
    data_dir: Path | None,
    threads: int | None,
    assignments: Sequence[str] = (),
) -> Scorer:
    """EM/F1 on the questions a finished training run of the config is scored on."""
    config = load_with_overrides(config_path, data_dir=data_dir, assignments=assignments)
    _, split_dev = read_split(config)
    dev = final_eval_records(config, split_dev)

    # On the device, and with the settings, that training picks (a GPU where there is one): the
    # scores then match the runs' own final figures.
    device = pick_runtime("auto", threads).device.type

    def score(model_dir: Path) -> dict[str, Any]:
        return evaluate_model_dir(model_dir, dev, config, threads=threads, device=device)

    return score


def _check_fresh(output_dir: Path) -> None:
    # The soup replaces what it writes; it must never overwrite a model someone has.
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ConfigurationError(f"{output_dir} exists and is not empty: name a new directory")


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
    parser.add_argument(
        "--greedy",
        type=Path,
        metavar="CONFIG",
        help="greedy soup, scored on the dev split of this training config",
    )
    parser.add_argument("--data-dir", type=Path, help="override the config's data.dir")
    parser.add_argument("--threads", type=int, help="torch threads for the dev scoring")
    add_assignment_option(parser, "override a setting of the --greedy config (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.greedy is None:
            average_models(args.model_dirs, args.output_dir)
            print(f"averaged {len(args.model_dirs)} models into {args.output_dir}")
            return 0
        score = dev_scorer(args.greedy, args.data_dir, args.threads, args.assignments)
        outcome = greedy_soup(args.model_dirs, args.output_dir, score)
    except QaflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for trial in outcome.tried:
        mark = "kept" if trial["kept"] else "left out"
        print(f"dev F1 {trial['f1']:.2f}  {' + '.join(trial['models'])}  ({mark})")
    print(
        f"soup of {len(outcome.ingredients)} in {args.output_dir}: dev F1 {outcome.dev['f1']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
