import csv
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from qaflow.cli import eval_cmd
from qaflow.reader import ModelSpec
from tests.cli.console import run_qaflow, tiny_model_env


def _app(**kwargs: object) -> typer.Typer:
    app = typer.Typer()
    eval_cmd.register(app, **kwargs)  # type: ignore[arg-type]

    @app.command("noop")
    def _noop() -> None:  # a second command keeps `eval` a named sub-command
        """Nothing."""

    return app


def _csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "context", "answer"])
        writer.writerow(["Who won?", "The Denver Broncos won Super Bowl 50.", "Denver Broncos"])
        writer.writerow(["Capital?", "Paris is the capital of France.", "Paris"])
        writer.writerow(["Boils?", "Water boils at 100 degrees.", "100 degrees"])
    return path


def test_eval_prints_scores_and_writes_report(tiny_model_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        _app(),
        [
            "eval",
            str(_csv(tmp_path / "d.csv")),
            "--model",
            str(tiny_model_dir),
            "--report",
            str(report),
            "--limit",
            "2",
            "--max-seq-len",
            "128",
            "--doc-stride",
            "32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "EM" in result.output
    assert "F1" in result.output
    parsed = json.loads(report.read_text(encoding="utf-8"))
    assert parsed["count"] == 2
    assert len(parsed["predictions"]) == 2


def test_model_resolution_is_pluggable(tiny_model_dir: Path, tmp_path: Path) -> None:
    asked: list[str | None] = []

    def resolve(name: str | None) -> ModelSpec:
        asked.append(name)
        return ModelSpec(
            name="registered", model=str(tiny_model_dir), tokenizer=str(tiny_model_dir)
        )

    result = CliRunner().invoke(
        _app(resolve_model=resolve), ["eval", str(_csv(tmp_path / "d.csv")), "--model", "tiny"]
    )
    assert result.exit_code == 0, result.output
    assert asked == ["tiny"]


def test_bad_data_is_a_readable_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("q,c\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(_app(), ["eval", str(bad), "--model", str(tiny_model_dir)])
    assert result.exit_code == 2
    assert "lacks column" in result.output


def test_an_unwritable_report_path_is_refused_before_scoring(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = str(_csv(tmp_path / "d.csv"))
    for report in (tmp_path / "absent" / "r.json", tmp_path):
        result = CliRunner().invoke(
            _app(), ["eval", data, "--model", str(tiny_model_dir), "--report", str(report)]
        )
        assert result.exit_code == 2
        assert "Cannot write the report" in " ".join(result.output.split())
        assert "EM " not in result.output  # nothing was scored


def test_a_model_path_with_brackets_is_shown_as_written(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "m[x]"
    shutil.copytree(tiny_model_dir, odd)
    # A terminal, so the progress bar (which names the model) is drawn.
    env = tiny_model_env(tmp_path / "home", tiny_model_dir, TTY_COMPATIBLE="1")
    result = run_qaflow(env, "eval", str(_csv(tmp_path / "d.csv")), "--model", str(odd))
    assert result.returncode == 0, result.stderr
    assert "m[x]" in result.stdout  # Rich markup would have eaten "[x]"


def test_missing_model_directory_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["eval", str(_csv(tmp_path / "d.csv")), "--model", str(tmp_path / "absent")]
    )
    assert result.exit_code == 2  # a --model that does not load is bad input
    assert "Could not load model" in result.output


def test_backend_option_scores_with_that_runtime(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAFLOW_HOME", str(tmp_path / "home"))
    data = _csv(tmp_path / "d.csv")
    predictions = {}
    for backend in ("torch", "onnx"):
        report = tmp_path / f"{backend}.json"
        args = ["eval", str(data), "--model", str(tiny_model_dir), "--report", str(report)]
        result = CliRunner().invoke(_app(), [*args, "--backend", backend])
        assert result.exit_code == 0, result.output
        predictions[backend] = [
            p["prediction"] for p in json.loads(report.read_text())["predictions"]
        ]
    # fp32 ONNX reproduces PyTorch's logits, so the answers are the same strings
    assert predictions["onnx"] == predictions["torch"]
    assert list((tmp_path / "home").rglob("*.onnx")), "the ONNX export was not built"


def test_unknown_backend_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["eval", str(_csv(tmp_path / "d.csv")), "--model", str(tiny_model_dir), "--backend", "tpu"],
    )
    assert result.exit_code == 2
    assert "tpu" in result.output
