"""The CLI, run as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.console import run_qaflow, tiny_model_env


@pytest.fixture
def env(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    return tiny_model_env(tmp_path / "home", tiny_model_dir)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_qaflow(env, *args, timeout=120)


def test_help_explains_the_commands(env: dict[str, str]) -> None:
    result = run(env, "--help")
    assert result.returncode == 0
    for command in ("serve", "ask", "models", "db", "config"):
        assert command in result.stdout


def test_config_masks_secrets(env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **env,
        "QAFLOW_API_TOKEN": "topsecret",
        "QAFLOW_DATABASE_URL": "postgresql+psycopg://me:hunter2@db.example/qa",
    }
    result = run(env, "config", "--json")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["api_token"] == "********"
    assert values["database_url"] == "postgresql+psycopg://me:********@db.example/qa"
    assert values["home"] == str(tmp_path / "home")
    assert "topsecret" not in result.stdout
    assert "hunter2" not in result.stdout


def test_invalid_setting_is_one_readable_sentence(env: dict[str, str]) -> None:
    result = run({**env, "QAFLOW_MAX_BATCH_SIZE": "many"}, "config")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert message.startswith("Error: Invalid setting: QAFLOW_MAX_BATCH_SIZE='many': Input should")
    assert "errors.pydantic.dev" not in message
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_ask(env: dict[str, str]) -> None:
    upgraded = run(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "revision" in upgraded.stdout
    context = "Ada Lovelace wrote the first program."
    result = run(env, "ask", "Who wrote the first program?", "--context", context, "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["model"] == "tiny"
    answer = body["answers"][0]
    assert context[answer["start"] : answer["end"]] == answer["answer"]


def test_ask_reads_the_context_from_a_file_and_returns_top_k(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "context.txt"
    path.write_text("Grace Hopper built the first compiler in 1952.", encoding="utf-8")
    result = run(env, "ask", "Who built it?", "--context-file", str(path), "--top-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["answers"]) == 3


def test_ask_errors_are_sentences_with_exit_codes(env: dict[str, str]) -> None:
    neither = run(env, "ask", "Who?")
    assert neither.returncode == 2
    assert "--context" in neither.stderr
    unknown = run(env, "ask", "Who?", "--context", "Ada.", "--model", "nope")
    assert unknown.returncode == 2
    assert "Model not found" in unknown.stderr
    assert "Traceback" not in unknown.stderr + neither.stderr


def test_text_from_users_is_printed_literally(env: dict[str, str]) -> None:
    # Square brackets are Rich markup unless printed as plain text: '[/b]' crashed the CLI.
    unknown = run(env, "ask", "Who?", "--context", "Ada.", "--model", "[/b]x")
    assert unknown.returncode == 2
    assert "'[/b]x' is not registered" in " ".join(unknown.stderr.split())
    assert "Traceback" not in unknown.stderr
    context = "[bold]Ada[/bold] wrote :smile: programs."
    answered = run(env, "ask", "Who?", "--context", context, "--top-k", "20")
    assert answered.returncode == 0, answered.stderr
    # Twenty spans of that context: some hold a tag or the emoji code, shown as typed.
    assert any(part in answered.stdout for part in ("[bold]", "[/bold]", ":smile:"))


def test_configuration_mistakes_exit_2(env: dict[str, str]) -> None:
    for variable, value in (
        ("QAFLOW_DATABASE_URL", "mysql://u:p@localhost/db"),
        ("QAFLOW_STORAGE_URL", "ftp://host/x"),
    ):
        result = run({**env, variable: value}, "models", "list")
        assert result.returncode == 2, (variable, result.stderr)
        assert result.stderr.startswith("Error: ")
        assert "Traceback" not in result.stderr


def test_serve_refuses_a_port_it_cannot_use_before_loading_anything(env: dict[str, str]) -> None:
    out_of_range = run(env, "serve", "--port", "99999")
    assert out_of_range.returncode == 2
    assert "65535" in out_of_range.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run(env, "serve", "--port", str(port))
    assert busy.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}: Address already in use." in busy.stderr
    assert "serving on" not in busy.stdout


def test_serve_names_a_database_it_cannot_open_in_one_sentence(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    bad = {**env, "QAFLOW_DATABASE_URL": f"sqlite:///{blocker}/qaflow.db"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(bad, "serve", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert "a-file" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving on" not in result.stdout


def test_models_add_list_rm(env: dict[str, str], tiny_model_dir: Path, tmp_path: Path) -> None:
    added = run(env, "models", "add", "second", str(tiny_model_dir))
    assert added.returncode == 0, added.stderr
    listed = run(env, "models", "list")
    assert "second" in listed.stdout
    assert "tiny" in listed.stdout
    broken = run(env, "models", "add", "broken", str(tmp_path / "missing"))
    assert broken.returncode == 2
    assert "missing" in broken.stderr
    assert "broken" not in run(env, "models", "list").stdout
    refused = run(env, "models", "rm", "tiny")
    assert refused.returncode == 2
    assert "default" in refused.stderr
    removed = run(env, "models", "rm", "second")
    assert removed.returncode == 0
    assert "second" not in removed.stdout
    gone = run(env, "models", "rm", "second")
    assert gone.returncode == 2
    assert "not found" in gone.stderr
