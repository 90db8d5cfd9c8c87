from collections.abc import Callable
from pathlib import Path

import typer
from typer.testing import CliRunner

from qaflow.cli import train_cmd
from qaflow.training import TrainingConfig
from qaflow.training.__main__ import main
from qaflow.training.card import _as_toml


def _write(config: TrainingConfig, path: Path) -> Path:
    path.write_text(_as_toml(config.model_dump(mode="json")), encoding="utf-8")
    return path


def train_app() -> typer.Typer:
    app = typer.Typer()
    train_cmd.register(app)

    @app.command("noop")
    def _noop() -> None:
        """Keeps `train` a named sub-command."""

    return app


def _train_args(
    make_config: Callable[..., TrainingConfig], tmp_path: Path, run: str
) -> tuple[Path, Path, list[str]]:
    """A 4-step config, the run's output directory, and their `qaflow train` arguments."""
    path = _write(make_config(optimization__max_steps=4), tmp_path / "c.toml")
    out = tmp_path / run
    return path, out, ["train", str(path), "--output-dir", str(out), "--threads", "1"]


def test_qaflow_train_stops_then_resumes(
    make_config: Callable[..., TrainingConfig], tmp_path: Path
) -> None:
    app = train_app()
    _, out, args = _train_args(make_config, tmp_path, "cli-run")
    first = CliRunner().invoke(app, [*args, "--stop-after-steps", "2"])
    assert first.exit_code == 0, first.output
    assert "Stopped at step 2/4" in first.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2  # a mistake in the command, like any other
    assert "--resume" in again.output
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (out / "model" / "README.md").is_file()


def test_python_dash_m_entry_point(
    make_config: Callable[..., TrainingConfig], tmp_path: Path
) -> None:
    path = _write(make_config(optimization__max_steps=2), tmp_path / "c.toml")
    assert main([str(path), "--threads", "1", "--output-dir", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "model" / "metrics.json").is_file()
    assert main([str(tmp_path / "absent.toml")]) == 2


def test_set_overrides_reach_the_run_and_bad_ones_are_refused(
    make_config: Callable[..., TrainingConfig], tmp_path: Path
) -> None:
    app = train_app()
    path, out, args = _train_args(make_config, tmp_path, "set-run")
    bad = CliRunner().invoke(app, [*args, "--set", "optimization.epoch=3"])
    assert bad.exit_code == 2
    assert "unknown training setting 'optimization.epoch'" in bad.output
    assert not out.exists()
    good = CliRunner().invoke(app, [*args, "--set", "optimization.max_steps=2"])
    assert good.exit_code == 0, good.output
    metrics = (out / "model" / "metrics.json").read_text(encoding="utf-8")
    assert '"global_step": 2' in metrics
    assert main([str(path), "--set", "optimization.batch_size=0"]) == 2
