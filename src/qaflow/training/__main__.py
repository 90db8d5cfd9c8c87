"""``python -m qaflow.training CONFIG.toml``: the recipe without the qaflow CLI's dependencies."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from qaflow.errors import QaflowError
from qaflow.training import TrainOptions, load_with_overrides, train
from qaflow.training.config import add_assignment_option


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qaflow.training", description=__doc__)
    parser.add_argument("config", type=Path, help="TOML training config")
    parser.add_argument("--base", help="override model.base (a name or a model directory)")
    parser.add_argument("--output-dir", type=Path, help="override run.output_dir")
    parser.add_argument("--data-dir", type=Path, help="override data.dir")
    parser.add_argument("--max-steps", type=int, help="override optimization.max_steps")
    parser.add_argument("--max-train-examples", type=int, help="override data.max_train_examples")
    add_assignment_option(
        parser, "override any setting, e.g. --set optimization.learning_rate=1e-4 (repeatable)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--stop-after-steps", type=int, help="checkpoint and stop at this step")
    parser.add_argument("--threads", type=int, help="torch intra-op threads")
    parser.add_argument(
        "--export-now",
        action="store_true",
        help="write the final model from the last checkpoint without training further",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = load_with_overrides(
            args.config,
            base=args.base,
            output_dir=args.output_dir,
            data_dir=args.data_dir,
            max_steps=args.max_steps,
            max_train_examples=args.max_train_examples,
            assignments=args.assignments,
        )
        outcome = train(
            config,
            TrainOptions(
                resume=args.resume or args.export_now,
                stop_after_steps=args.stop_after_steps,
                threads=args.threads,
                export_only=args.export_now,
            ),
        )
    except QaflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if outcome.finished:
        print(f"model written to {outcome.model_dir}")
    else:
        print(f"stopped at step {outcome.global_step}/{outcome.total_steps}; resume with --resume")
    return 0


if __name__ == "__main__":
    sys.exit(main())
