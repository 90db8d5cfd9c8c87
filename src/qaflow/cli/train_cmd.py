"""``qaflow train CONFIG``: train qaflow's extractive QA model from a TOML recipe."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from qaflow.cli._common import console, readable_errors


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    def train_command(
        config: Annotated[Path, typer.Argument(help="TOML training config (see training/).")],
        base: Annotated[
            str | None, typer.Option(help="Override model.base: a model name or directory.")
        ] = None,
        output_dir: Annotated[Path | None, typer.Option(help="Override run.output_dir.")] = None,
        data_dir: Annotated[Path | None, typer.Option(help="Override data.dir.")] = None,
        max_steps: Annotated[
            int | None, typer.Option(min=1, help="Override optimization.max_steps.")
        ] = None,
        max_train_examples: Annotated[
            int | None, typer.Option(min=1, help="Train on a seeded subset of N questions.")
        ] = None,
        assignments: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                metavar="SECTION.KEY=VALUE",
                help="Override any setting, e.g. --set optimization.learning_rate=1e-4 "
                "(repeatable).",
            ),
        ] = None,
        resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
        stop_after_steps: Annotated[
            int | None, typer.Option(min=1, help="Checkpoint and stop at this step.")
        ] = None,
        threads: Annotated[int | None, typer.Option(min=1, help="Torch threads.")] = None,
        export_now: Annotated[
            bool, typer.Option(help="Write the final model from the last checkpoint, no training.")
        ] = False,
    ) -> None:
        """Train (or resume) a model; writes checkpoints, then OUTPUT_DIR/model with its card."""
        from qaflow.training import TrainOptions, load_with_overrides, train

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        with readable_errors():
            recipe = load_with_overrides(
                config,
                base=base,
                output_dir=output_dir,
                data_dir=data_dir,
                max_steps=max_steps,
                max_train_examples=max_train_examples,
                assignments=assignments or (),
            )
            outcome = train(
                recipe,
                TrainOptions(
                    resume=resume or export_now,
                    stop_after_steps=stop_after_steps,
                    threads=threads,
                    export_only=export_now,
                ),
            )
        if outcome.finished:
            console.print(f"Model written to {outcome.model_dir}")
        else:
            console.print(
                f"Stopped at step {outcome.global_step}/{outcome.total_steps}; "
                "continue with --resume."
            )
