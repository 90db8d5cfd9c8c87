"""``qaflow eval DATA``: exact match and F1 of a model on a SQuAD-format file or CSV."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from qaflow.cli._common import EXIT_BAD_INPUT, console, fail, readable_errors, settings_from_env
from qaflow.reader import ModelSpec

ModelResolver = Callable[[str | None], ModelSpec]


class EvalBackend(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


def resolve_local_model(name: str | None) -> ModelSpec:
    """A local model directory or hub id; none given means the configured default reference."""
    ref = name or settings_from_env().default_model_ref
    label = Path(ref).name if Path(ref).expanduser().is_dir() else ref
    return ModelSpec(name=label or ref, model=ref, tokenizer=ref)


def register(app: typer.Typer, resolve_model: ModelResolver = resolve_local_model) -> None:
    """Add the ``eval`` command to ``app``; ``resolve_model`` turns --model into a spec."""

    @app.command("eval")
    def eval_command(
        data: Annotated[
            Path,
            typer.Argument(
                help="SQuAD JSON (.json), CSV with question, context, answer columns (.csv), "
                "or JSONL (.jsonl[.gz]).",
            ),
        ],
        model: Annotated[
            str | None, typer.Option(help="Model: a local directory or hub id (default model).")
        ] = None,
        report: Annotated[
            Path | None, typer.Option(help="Write the report, with every prediction, as JSON.")
        ] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Questions per reader call.")] = 32,
        limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N.")] = None,
        max_seq_len: Annotated[int, typer.Option(min=32, help="Tokens per window.")] = 384,
        doc_stride: Annotated[int, typer.Option(min=0, help="Overlap of windows.")] = 128,
        threads: Annotated[int | None, typer.Option(min=1, help="Torch threads.")] = None,
        backend: Annotated[
            EvalBackend | None,
            typer.Option(help="Runtime to score with (default: the model's own)."),
        ] = None,
    ) -> None:
        """Score a model on DATA with the SQuAD v1.1 metrics (exact match, F1)."""
        from qaflow.evaluation import evaluate_reader, load_eval_examples
        from qaflow.reader import ReaderOptions, load_reader

        if report is not None:
            _check_writable(report)  # before minutes of scoring, not after
        with readable_errors():
            examples = load_eval_examples(data, limit=limit)
            spec = resolve_model(model)
            if backend is not None:
                spec = replace(spec, backend=backend.value)
            options = ReaderOptions(
                max_seq_len=max_seq_len, doc_stride=doc_stride, batch_size=batch_size
            )
            reader = load_reader(spec, options=options, threads=threads)
            with _progress() as progress:
                task = progress.add_task(f"{spec.name}", total=len(examples))
                result = evaluate_reader(
                    reader,
                    examples,
                    batch_size=batch_size,
                    progress=lambda done: progress.advance(task, done),
                    keep_predictions=report is not None,
                    model=spec.model,
                    data=str(data),
                )
        console.print(
            Text.assemble(
                (f"EM {result.exact_match:.2f}  F1 {result.f1:.2f}", "bold"),
                f"  on {result.count} questions  ({result.questions_per_second:.1f} questions/s)",
            ),
            highlight=False,
        )
        if report is not None:
            try:
                report.write_text(result.to_json(), encoding="utf-8")
            except OSError as exc:
                fail(f"Cannot write the report to {report}: {exc}", code=EXIT_BAD_INPUT)
            console.print(f"Report written to {report}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),  # the model's name, as given
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _check_writable(path: Path) -> None:
    folder = path.parent
    if not folder.is_dir():
        fail(
            f"Cannot write the report to {path}: folder {folder} does not exist.",
            code=EXIT_BAD_INPUT,
        )
    if path.is_dir() or not os.access(folder, os.W_OK):
        fail(f"Cannot write the report to {path}: not a writable file path.", code=EXIT_BAD_INPUT)
