"""The README stays honest: every setting and every CLI command it should name, it names."""

from __future__ import annotations

from pathlib import Path

import typer.main

from qaflow.cli import app
from qaflow.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_configuration_table() -> None:
    missing = [
        f"QAFLOW_{name.upper()}"
        for name in Settings.model_fields
        if f"`QAFLOW_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_top_level_command_is_mentioned() -> None:
    group = typer.main.get_group(app)
    missing = [name for name in group.commands if f"qaflow {name}" not in README]
    assert missing == []


def test_the_quickstart_has_the_two_commands() -> None:
    assert "make serve" in README
    assert "make test" in README
