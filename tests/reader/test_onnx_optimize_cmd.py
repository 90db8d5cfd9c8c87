"""``qaflow models optimize`` (lives with the ONNX tests until the lead moves it to tests/cli)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from qaflow.cli.optimize_cmd import register
from qaflow.reader.onnx_cache import FP32_FILE, INT8_FILE

pytest.importorskip("onnxruntime")


@pytest.fixture
def models_app(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> typer.Typer:
    monkeypatch.setenv("QAFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QAFLOW_DEFAULT_MODEL", "tiny")
    monkeypatch.setenv("QAFLOW_DEFAULT_MODEL_REF", str(tiny_model_dir))
    monkeypatch.setenv("QAFLOW_DEFAULT_MODEL_BACKEND", "torch")
    app = typer.Typer()

    @app.callback()
    def models() -> None:
        """Stands in for ``qaflow models``."""

    register(app)
    return app


def test_optimize_builds_both_graphs_in_qaflow_home(
    models_app: typer.Typer, tmp_path: Path
) -> None:
    result = CliRunner().invoke(models_app, ["optimize", "tiny", "--int8"])
    assert result.exit_code == 0, result.output
    cache = tmp_path / "home" / "cache" / "onnx"
    [entry] = list(cache.iterdir())
    assert (entry / FP32_FILE).is_file()
    assert (entry / INT8_FILE).is_file()
    assert str(entry / INT8_FILE) in result.output.replace("\n", "")
    assert "--backend onnx-int8" in result.output  # the entry still runs torch: say how to switch


def test_optimize_gives_no_switch_hint_when_the_model_runs_that_backend(
    models_app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAFLOW_DEFAULT_MODEL", "tiny-int8")
    monkeypatch.setenv("QAFLOW_DEFAULT_MODEL_BACKEND", "onnx-int8")
    result = CliRunner().invoke(models_app, ["optimize", "tiny-int8", "--int8"])
    assert result.exit_code == 0, result.output
    assert "ready in" in result.output
    assert "Serve it with" not in result.output


def test_optimize_unknown_model_is_bad_input(models_app: typer.Typer) -> None:
    result = CliRunner().invoke(models_app, ["optimize", "nope"])
    assert result.exit_code == 2
    assert "Model not found" in result.output
