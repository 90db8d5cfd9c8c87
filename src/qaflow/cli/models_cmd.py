"""``qaflow models``: list, add and remove registered QA models."""

from __future__ import annotations

from typing import Annotated, cast, get_args

import typer
from rich.table import Table

from qaflow.cli._common import cli_runtime, console
from qaflow.services import registry
from qaflow.services.schemas import BackendName, ModelCreate, ModelPublic

app = typer.Typer(help="Manage the model registry.", no_args_is_help=True)


def _print(models: list[ModelPublic]) -> None:
    table = Table("name", "model", "tokenizer", "backend", "default")
    for entry in models:
        table.add_row(
            entry.name, entry.model, entry.tokenizer, entry.backend, "yes" if entry.default else ""
        )
    console.print(table)


@app.command("list")
def list_models() -> None:
    """List registered models."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        _print(registry.list_models(session=session, settings=runtime.settings))


@app.command("add")
def add_model(
    name: Annotated[str, typer.Argument(help="Registry name.")],
    model: Annotated[str, typer.Argument(help="Hub id or local directory of the model.")],
    tokenizer: Annotated[
        str | None, typer.Option(help="Hub id or directory of the tokenizer (default: the model).")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="Inference backend: torch, onnx, onnx-int8.")
    ] = "torch",
) -> None:
    """Register a model under NAME; it is loaded once to prove it works."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        model_in = ModelCreate(
            name=name, model=model, tokenizer=tokenizer or model, backend=_backend(backend)
        )
        _print(
            registry.add_model(
                session=session,
                settings=runtime.settings,
                readers=runtime.readers,
                model_in=model_in,
            )
        )


@app.command("rm")
def remove_model(name: Annotated[str, typer.Argument(help="Registry name.")]) -> None:
    """Remove the model NAME (not the default)."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        _print(registry.delete_model(session=session, settings=runtime.settings, name=name))


def _backend(value: str) -> BackendName:
    if value in get_args(BackendName):
        return cast(BackendName, value)
    raise typer.BadParameter(
        "backend must be one of torch, onnx, onnx-int8", param_hint="--backend"
    )
