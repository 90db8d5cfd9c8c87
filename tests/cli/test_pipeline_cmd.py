"""The pipeline commands, run as users run them: the installed console script."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from qaflow.pipeline.results import read_results_parquet
from tests.cli.console import qaflow_command, run_qaflow, tiny_model_env
from tests.support.tiny_model import build_tiny_qa_model

WAIT_S = 180


@pytest.fixture
def env(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    return tiny_model_env(
        tmp_path / "home", tiny_model_dir, QAFLOW_SHARD_ROWS="4", QAFLOW_WORKER_POLL_S="0.1"
    )


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_qaflow(env, *args, timeout=WAIT_S)


def ok(env: dict[str, str], *args: str) -> str:
    result = run(env, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def upload(env: dict[str, str], path: Path, rows: int) -> str:
    lines = ["id,question,context"] + [
        f"{n},Who wrote program {n}?,Ada Lovelace wrote program {n} in 1843." for n in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    match = re.search(r"upload ([0-9a-f]{32})", ok(env, "upload", str(path)))
    assert match is not None
    return match.group(1)


def test_run_then_export_and_inspect(env: dict[str, str], tmp_path: Path) -> None:
    upload_id = upload(env, tmp_path / "questions.csv", 10)

    report = " ".join(ok(env, "run", "--quiet").split())

    assert "1 jobs run, 10 answers written to SQL from 1 output commits" in report
    [job] = json.loads(ok(env, "pipeline", "jobs", "--json"))
    assert (job["state"], job["total"], job["processed"]) == ("done", 3, 3)
    pipeline = json.loads(ok(env, "pipeline", "show", "--json"))
    assert (pipeline["version"], pipeline["spec"]["model"], pipeline["spec"]["shard_rows"]) == (
        1,
        "tiny",
        4,
    )
    [commit] = json.loads(ok(env, "commits", "question_answer", "--json"))
    assert commit["job_id"] == job["id"]
    # At 80 columns (no terminal), ids wrap whole instead of ending in an ellipsis.
    for table in (ok(env, "pipeline", "jobs"), ok(env, "commits", "question_answer")):
        assert re.search(r"[0-9a-f]{4,}…", table) is None, table  # no id cut short
        assert job["id"][:12] in table
    # At 120 columns, job ids are whole on one line (copied into the next command) and commit
    # ids are git-style short prefixes, which the commands take.
    wide = {**env, "COLUMNS": "120"}
    assert job["id"] in ok(wide, "pipeline", "jobs")
    commits = ok(wide, "commits", "question_answer")
    assert job["id"] in commits
    assert commit["id"][:12] in commits
    assert commit["id"] not in commits

    ok(env, "export", upload_id, "-o", str(tmp_path / "answers.csv"))
    rows = list(csv.reader((tmp_path / "answers.csv").open(encoding="utf-8", newline="")))
    assert rows[0] == ["id", "question", "context", "answer", "score", "start", "end", "error"]
    assert len(rows) == 11
    as_json = json.loads(ok(env, "export", upload_id, "--format", "json", "-o", "-"))
    assert [item["row_index"] for item in as_json] == list(range(10))
    ok(env, "export", upload_id, "--format", "parquet", "-o", str(tmp_path / "answers.parquet"))
    with (tmp_path / "answers.parquet").open("rb") as source:
        assert len(list(read_results_parquet(source))) == 10
    refused = run(env, "export", upload_id, "-o", str(tmp_path / "no-such-dir" / "a.csv"))
    assert refused.returncode == 2
    assert "Cannot write" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_model_change_with_reprocess_and_the_diff(env: dict[str, str], tmp_path: Path) -> None:
    upload(env, tmp_path / "questions.csv", 12)
    logged = run(env, "run")  # not a terminal: progress comes as lines, one per settled datum
    assert logged.returncode == 0, logged.stderr
    progress = [line for line in logged.stderr.splitlines() if "datums settled" in line]
    assert [line.split(": ")[1].split()[0] for line in progress] == ["0/3", "1/3", "2/3", "3/3"]
    assert progress[-1].endswith("3/3 datums settled (3 computed, 0 skipped, 0 failed)")
    other = build_tiny_qa_model(tmp_path / "other-model", seed=1)
    ok(env, "models", "add", "other", str(other))

    changed = " ".join(ok(env, "pipeline", "update", "--model", "other", "--reprocess").split())
    assert "new version v2" in changed
    assert "Reprocess job" in changed
    ok(env, "run", "--quiet")

    new, old = json.loads(ok(env, "commits", "question_answer", "--json"))
    diff = json.loads(ok(env, "diff", old["id"], new["id"], "--json"))
    assert len(diff["changed_files"]) == 3
    assert diff["changed_rows"]
    # Like git, a unique leading part of an id is enough.
    table = " ".join(ok(env, "diff", old["id"][:7], new["id"][:7]).split())
    assert "3 files changed" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "nope", "-o", "x.csv"), "Upload 'nope' not found."),
        (("pipeline", "jobs", "--state", "sleeping"), "state must be"),
        (("run", "--executor", "spark"), "executor must be local or ray"),
        (("diff", "a", "b"), "Commit 'a' not found (give the full id or at least 4"),
        (("pipeline", "update", "--trigger", "hourly"), "trigger: Input should be"),
    ],
)
def test_mistakes_are_one_readable_sentence(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = run(env, *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_the_worker_answers_uploads_until_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    worker = subprocess.Popen(
        qaflow_command("worker"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        upload_id = upload(env, tmp_path / "questions.csv", 6)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if run(env, "export", upload_id, "-o", str(tmp_path / "out.csv")).returncode == 0:
                break
            time.sleep(0.5)
        out = io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"))
        assert len(list(csv.reader(out))) == 7
    finally:
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=WAIT_S)
    assert worker.returncode == 0, stderr
    assert "Pipeline worker stopped." in stdout


def test_upload_wait_answers_the_upload_in_the_same_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "wait.csv"
    rows = ["id,question,context"] + [
        f"{n},Who wrote program {n}?,Ada Lovelace wrote program {n} in 1843." for n in range(6)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    output = ok(env, "upload", "--wait", str(path))

    match = re.search(r"upload ([0-9a-f]{32})", output)
    assert match is not None
    assert f"Upload {match.group(1)}: done" in " ".join(output.split())
    answers = json.loads(ok(env, "export", match.group(1), "--format", "json", "-o", "-"))
    assert [item["row_index"] for item in answers] == list(range(6))
    assert all(item["error"] is None for item in answers)
