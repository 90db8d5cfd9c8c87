"""``qaflow upload --wait`` on each database and storage, checked through the API.

The newcomer's CLI journey: the installed console script uploads a CSV and answers it, with no
other command; an API on the same database and storage then serves the answers in ``GET /answer``
and in the results download. SQLite and PostgreSQL, local storage and S3 (SeaweedFS).
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from qaflow.config import Settings, load_settings
from tests.cli.console import run_qaflow
from tests.support.live_server import live_api
from tests.support.seaweed import S3Server

WAIT_S = 300
ROWS = 5
QUESTIONS = [f"Who wrote program {n}?" for n in range(ROWS)]


@pytest.fixture(params=["local", "s3"])
def storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The QAFLOW_* variables of the storage: a local directory, or a prefix of the S3 bucket."""
    if request.param == "local":
        return {"QAFLOW_STORAGE_URL": str(tmp_path / "bucket")}
    server: S3Server = request.getfixturevalue("s3_server")
    return server.settings_env(tmp_path.name)


@pytest.fixture
def qaflow_env(
    tmp_path: Path, database_url: str, storage_env: dict[str, str], tiny_model_dir: Path
) -> dict[str, str]:
    """Every QAFLOW_* variable of the run; nothing else of the kind leaks in from outside."""
    return {
        "QAFLOW_HOME": str(tmp_path / "home"),
        "QAFLOW_DATABASE_URL": database_url,
        **storage_env,
        "QAFLOW_DEFAULT_MODEL": "tiny",
        "QAFLOW_DEFAULT_MODEL_REF": str(tiny_model_dir),
        "QAFLOW_DEFAULT_MODEL_BACKEND": "torch",
        "QAFLOW_SHARD_ROWS": "2",
        "QAFLOW_WORKER_POLL_S": "0.1",
    }


def settings_of(qaflow_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the CLI read, read the same way (from the environment)."""
    for name in list(os.environ):
        if name.startswith("QAFLOW_"):
            monkeypatch.delenv(name)
    for name, value in qaflow_env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def questions_csv(path: Path) -> Path:
    lines = ["id,question,context"] + [
        f"{n},{question},Ada Lovelace wrote program {n} in 1843."
        for n, question in enumerate(QUESTIONS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def upload_and_wait(qaflow_env: dict[str, str], path: Path) -> str:
    outside = {name: value for name, value in os.environ.items() if not name.startswith("QAFLOW_")}
    result = run_qaflow(
        {**outside, **qaflow_env, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
        "upload",
        "--wait",
        str(path),
        timeout=WAIT_S,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"upload ([0-9a-f]{32})", result.stdout)
    assert match is not None, result.stdout
    assert f"Upload {match.group(1)}: done" in " ".join(result.stdout.split())
    return match.group(1)


@pytest.mark.integration
def test_cli_upload_wait_answers_into_the_history_and_the_download(
    qaflow_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = int(time.time())

    upload_id = upload_and_wait(qaflow_env, questions_csv(tmp_path / "questions.csv"))

    settings = settings_of(qaflow_env, monkeypatch)
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        history = client.get(
            "/answer", params={"start": started, "end": int(time.time()), "source": "batch"}
        )
        [listed] = client.get("/uploads").json()
        download = client.get(f"/uploads/{upload_id}/answers", params={"format": "csv"})

    assert history.status_code == 200, history.text
    answers = {row["question"]: row for row in history.json()}
    assert sorted(answers) == sorted(QUESTIONS)
    assert {(row["upload_id"], row["model"]) for row in answers.values()} == {(upload_id, "tiny")}
    assert (listed["id"], listed["origin"], listed["state"]) == (upload_id, "cli", "done")
    assert listed["egressed"]
    assert download.status_code == 200, download.text
    header, *rows = list(csv.reader(io.StringIO(download.text)))
    assert header == ["id", "question", "context", "answer", "score", "start", "end", "error"]
    assert [row[1] for row in rows] == QUESTIONS
    for row in rows:
        assert row[3] == answers[row[1]]["answer"]
        assert row[7] == ""
