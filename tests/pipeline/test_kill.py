"""The kill test: SIGKILL `qaflow run` mid-job, run it again, and nothing is lost or doubled."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.db import Commit, CommitOrigin, Datum, DatumState, Job, JobState
from qaflow.services.runtime import Runtime, open_runtime
from tests.pipeline.pipeline_support import (
    pipeline_settings_for,
    question_csv,
    run_pass,
    stored_answers,
    upload,
)

QAFLOW = shutil.which("qaflow")
FILES = 3
ROWS_PER_FILE = 300
SHARD_ROWS = 15
DATUMS = FILES * ROWS_PER_FILE // SHARD_ROWS
WAIT_S = 300

pytestmark = pytest.mark.slow


def test_a_killed_run_resumes_without_losing_or_doubling_answers(
    tmp_path: Path, database_url: str, tiny_model_dir: Path
) -> None:
    assert QAFLOW is not None, "the qaflow console script is not installed"
    files = [question_csv(ROWS_PER_FILE, first=1000 * n) for n in range(FILES)]
    settings, env = _settings_and_env(tmp_path, database_url, tiny_model_dir)
    with open_runtime(settings) as runtime:
        for number, data in enumerate(files):
            upload(runtime, data, f"part-{number}.csv")

        with (tmp_path / "killed.log").open("wb") as log:
            killed = subprocess.Popen([QAFLOW, "run", "--quiet"], env=env, stdout=log, stderr=log)
            try:
                done_at_kill = _wait_for_done_datums(runtime.sessions, killed, at_least=4)
            finally:
                killed.kill()
                killed.wait()
        assert done_at_kill < DATUMS, "the run finished before it could be killed"
        assert _unfinished_jobs(runtime.sessions) > 0

        resumed = subprocess.run(
            [QAFLOW, "run", "--quiet"], env=env, capture_output=True, text=True, timeout=WAIT_S
        )
        assert resumed.returncode == 0, resumed.stderr

        answers = _answers_by_row(runtime)
        assert len(answers) == FILES * ROWS_PER_FILE
        assert _unfinished_jobs(runtime.sessions) == 0
        _assert_one_output_commit_per_job(runtime.sessions)

    clean_settings = pipeline_settings_for(
        tmp_path / "clean",
        f"sqlite:///{tmp_path / 'clean.db'}",
        tiny_model_dir,
        shard_rows=SHARD_ROWS,
    )
    with open_runtime(clean_settings) as clean:
        for number, data in enumerate(files):
            upload(clean, data, f"part-{number}.csv")
        run_pass(clean)
        expected = _answers_by_row(clean)
    assert answers.keys() == expected.keys()
    for key, (outcome, score) in expected.items():
        assert answers[key][0] == outcome, key
        assert answers[key][1] == pytest.approx(score, rel=1e-4, abs=1e-6), key


def test_the_worker_processes_of_a_killed_run_end_too(
    tmp_path: Path, database_url: str, tiny_model_dir: Path
) -> None:
    assert QAFLOW is not None, "the qaflow console script is not installed"
    settings, env = _settings_and_env(tmp_path, database_url, tiny_model_dir)
    with open_runtime(settings) as runtime:
        upload(runtime, question_csv(ROWS_PER_FILE * FILES))
        run = subprocess.Popen(
            [QAFLOW, "run", "--quiet", "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_done_datums(runtime.sessions, run, at_least=1)
            workers = _children(run.pid)
        finally:
            run.kill()
            run.wait()
    assert workers, "the pool had no worker processes"
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "pool processes outlived their parent"


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _settings_and_env(
    tmp_path: Path, database_url: str, tiny_model_dir: Path
) -> tuple[Settings, dict[str, str]]:
    """The test's settings, and the same as the environment of a `qaflow` subprocess."""
    settings = pipeline_settings_for(
        tmp_path / "home", database_url, tiny_model_dir, shard_rows=SHARD_ROWS
    )
    env = {
        **os.environ,
        "QAFLOW_HOME": str(settings.home),
        "QAFLOW_DATABASE_URL": database_url,
        "QAFLOW_DEFAULT_MODEL": "tiny",
        "QAFLOW_DEFAULT_MODEL_REF": str(tiny_model_dir),
        "QAFLOW_DEFAULT_MODEL_BACKEND": "torch",
        "QAFLOW_SHARD_ROWS": str(SHARD_ROWS),
        "HF_HUB_OFFLINE": "1",
    }
    return settings, env


def _wait_for_done_datums(
    sessions: sessionmaker[Session], process: subprocess.Popen[bytes], at_least: int
) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "qaflow run exited before it was killed"
        with sessions() as session:
            done = session.scalar(
                select(func.count()).select_from(Datum).where(Datum.state == DatumState.DONE)
            )
        if done is not None and done >= at_least:
            return done
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} datums were done in {WAIT_S} s")


def _answers_by_row(runtime: Runtime) -> dict[tuple[str, int], tuple[tuple[object, ...], float]]:
    """(input file hash, row) -> ((question, answer, start, end, error), score); no duplicates."""
    rows: dict[tuple[str, int], tuple[tuple[object, ...], float]] = {}
    for answer in stored_answers(runtime):
        assert answer.input_sha256 is not None
        assert answer.row_index is not None
        key = (answer.input_sha256, answer.row_index)
        assert key not in rows, f"row {key} stored twice"
        outcome = (answer.question, answer.answer, answer.start_char, answer.end_char, answer.error)
        rows[key] = (outcome, answer.score or 0.0)
    return rows


def _unfinished_jobs(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(Job).where(Job.state != JobState.DONE)
        )
    return count or 0


def _assert_one_output_commit_per_job(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        outputs = list(
            session.scalars(select(Commit).where(Commit.origin == CommitOrigin.PIPELINE))
        )
        jobs = list(session.scalars(select(Job)))
    assert sorted(c.job_id or "" for c in outputs) == sorted(job.id for job in jobs)
    assert {job.output_commit_id for job in jobs} == {c.id for c in outputs}
    assert all(c.egressed_at is not None for c in outputs)
