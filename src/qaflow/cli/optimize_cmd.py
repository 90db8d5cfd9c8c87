"""``qaflow models optimize``: export a registered model to ONNX (optionally int8) ahead of use."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from qaflow.cli._common import cli_runtime, console, readable_errors
from qaflow.reader import build_onnx_model, default_onnx_cache_dir
from qaflow.services import registry


def register(models_app: typer.Typer) -> None:
    """Add the ``optimize`` command to the ``qaflow models`` app."""
    models_app.command("optimize")(optimize_model)


def optimize_model(
    name: Annotated[str, typer.Argument(help="Registry name of the model.")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also build the dynamic int8 graph (onnx-int8).")
    ] = False,
) -> None:
    """Export model NAME to ONNX now, so the onnx backends need no export on first use.

    The export is cached under QAFLOW_HOME/cache/onnx per model directory and weights.
    """
    with cli_runtime() as runtime, runtime.sessions() as session:
        spec = registry.resolve_model(session=session, settings=runtime.settings, name=name)
        cache_dir = default_onnx_cache_dir(runtime.settings)
    began = time.perf_counter()
    with readable_errors():
        built = build_onnx_model(spec, int8=int8, cache_dir=cache_dir)
    size_mb = built.path.stat().st_size / 1e6
    seconds = time.perf_counter() - began
    console.print(
        f"{spec.name}: {built.path} ({size_mb:.1f} MB) ready in {seconds:.1f} s", highlight=False
    )
    backend = "onnx-int8" if int8 else "onnx"
    if spec.backend != backend:
        console.print(
            f"Serve it with: qaflow models add {spec.name} {spec.model} "
            f"--tokenizer {spec.tokenizer} --backend {backend}",
            highlight=False,
        )
