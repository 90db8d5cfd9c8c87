"""The pipeline over live HTTP: upload, the embedded worker answers, then inspect and change."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qaflow.config import Settings
from tests.api.conftest import Api
from tests.support.live_server import live_api
from tests.support.seaweed import S3Server
from tests.support.tiny_model import build_tiny_qa_model

WAIT_S = 180


def question_csv(rows: int, *, blank_questions: tuple[int, ...] = ()) -> bytes:
    lines = ["id,Question,context"]
    for number in range(rows):
        question = "" if number in blank_questions else f"Who wrote program {number}?"
        lines.append(f"{number},{question},Ada Lovelace wrote program {number} in 1843.")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa-model-other"), seed=1)


@pytest.fixture
def worker_api(api_settings: Settings) -> Iterator[httpx.Client]:
    """A live API with its embedded pipeline worker running, as `qaflow serve` starts it."""
    settings = api_settings.model_copy(
        update={
            "embedded_worker": True,
            "worker_poll_s": 0.1,
            "shard_rows": 4,
            "retry_backoff_s": 0.05,
        }
    )
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def post_csv(client: httpx.Client, data: bytes, name: str = "questions.csv") -> str:
    response = client.post("/upload", files={"file": (name, data, "text/csv")})
    assert response.status_code == 200, response.text
    upload_id: str = response.json()["upload_id"]
    return upload_id


def wait_until(client: httpx.Client, path: str, ready: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        response = client.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if ready(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{path} not ready in {WAIT_S} s: {body}")


def answered(client: httpx.Client, upload_id: str) -> dict[str, Any]:
    return wait_until(client, f"/uploads/{upload_id}", lambda body: body["egressed"])


def test_the_embedded_worker_answers_an_upload(worker_api: httpx.Client) -> None:
    upload_id = post_csv(worker_api, question_csv(10, blank_questions=(4,)))

    status = answered(worker_api, upload_id)

    assert status["state"] == "done"
    assert (status["rows"], status["datums_total"], status["datums_done"]) == (10, 3, 3)
    assert (status["progress"], status["error_rows"], status["errors"]) == (1.0, 1, [])

    assert worker_api.get("/healthz").json()["pipeline_worker"] == "running"
    as_csv = worker_api.get(f"/uploads/{upload_id}/answers")
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["id", "Question", "context", "answer", "score", "start", "end", "error"]
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(10)]
    assert rows[5][3:] == ["", "", "", "", "The question is empty."]

    as_json = worker_api.get(f"/uploads/{upload_id}/answers", params={"format": "json"}).json()
    assert [item["row_index"] for item in as_json] == list(range(10))
    assert as_json[0]["extra"] == {"id": "0"}

    jobs = worker_api.get("/jobs").json()
    assert [(job["state"], job["total"], job["processed"]) for job in jobs] == [("done", 3, 3)]
    job = worker_api.get(f"/jobs/{jobs[0]['id']}").json()
    assert job["failed_datums"] == []
    assert job["output_commit_id"] == status["output_commit_id"]

    repos = {repo["name"]: repo for repo in worker_api.get("/repos").json()}
    assert (repos["uploads"]["kind"], repos["question_answer"]["kind"]) == ("input", "output")
    assert repos["question_answer"]["files"] == 3
    [output] = worker_api.get("/repos/question_answer/commits").json()
    commit = worker_api.get(f"/commits/{output['id']}").json()
    assert (commit["pipeline"], commit["pipeline_version"], commit["model"]) == (
        "question_answer",
        1,
        "tiny",
    )
    assert commit["input_commit_id"] == status["commit_id"]
    assert commit["job_id"] == job["id"]
    assert len(commit["files"]) == 3


def test_a_new_model_reprocesses_and_the_diff_shows_changed_answers(
    worker_api: httpx.Client, other_model_dir: Path
) -> None:
    upload_id = post_csv(worker_api, question_csv(12))
    first = answered(worker_api, upload_id)
    added = worker_api.put(
        "/models",
        json={"name": "other", "model": str(other_model_dir), "tokenizer": str(other_model_dir)},
    )
    assert added.status_code == 200, added.text

    changed = worker_api.put(
        "/pipelines/question_answer", json={"model": "other", "reprocess": True}
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["new_version"], body["pipeline"]["version"]) == (True, 2)
    assert [v["model"] for v in body["pipeline"]["versions"]] == ["other", "tiny"]
    job = wait_until(
        worker_api, f"/jobs/{body['reprocess_job_id']}", lambda job: job["state"] == "done"
    )
    assert (job["scope"], job["pipeline_version"], job["processed"]) == ("all", 2, 3)

    diff = worker_api.get(
        "/diff", params={"from": first["output_commit_id"], "to": job["output_commit_id"]}
    )

    assert diff.status_code == 200, diff.text
    result = diff.json()
    assert len(result["changed_files"]) == 3
    assert result["changed_rows"], "another model's random weights answer differently"
    for row in result["changed_rows"]:
        assert row["old_answer"] != row["new_answer"] or row["old_error"] != row["new_error"]
    pipeline = worker_api.get("/pipelines/question_answer").json()
    assert (pipeline["version"], pipeline["spec"]["model"]) == (2, "other")


def test_before_the_pipeline_runs_an_upload_is_queued(api: Api) -> None:
    upload_id = post_csv(api.client, question_csv(3))

    status = api.client.get(f"/uploads/{upload_id}")
    answers = api.client.get(f"/uploads/{upload_id}/answers")

    assert status.status_code == 200
    assert (status.json()["state"], status.json()["progress"]) == ("queued", 0.0)
    assert answers.status_code == 404
    assert (
        answers.json()["detail"] == f"Upload '{upload_id}' has no answers yet (its job is queued)."
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "detail"),
    [
        ("GET", "/uploads/nope", None, 404, "Upload 'nope' not found."),
        ("GET", "/jobs/nope", None, 404, "Job 'nope' not found."),
        ("GET", "/commits/nope", None, 404, "Commit 'nope' not found (give the full id"),
        ("GET", "/repos/nope/commits", None, 404, "Repo 'nope' not found."),
        ("GET", "/pipelines/nope", None, 404, "Pipeline 'nope' not found."),
        ("GET", "/jobs?state=sleeping", None, 400, "Invalid request"),
        ("PUT", "/pipelines/question_answer", {"colour": "red"}, 400, "'colour'"),
        ("PUT", "/pipelines/question_answer", {"model": "nope"}, 400, "Model not found"),
        ("PUT", "/pipelines/question_answer", {"batch_size": 10**20}, 400, "less than or equal"),
        ("PUT", "/pipelines/question_answer", {"max_seq_len": 50_000}, 400, "tokens model 'tiny'"),
        ("GET", f"/jobs?offset={2**63}", None, 400, "less than or equal"),
        ("GET", "/uploads/a%00b", None, 400, "NUL character"),
        ("GET", "/repos/a%00b/commits", None, 400, "NUL character"),
        ("GET", "/diff?from=a%00b&to=c", None, 400, "NUL character"),
        ("DELETE", "/models?model=a%00b", None, 400, "NUL character"),
        ("PUT", "/models", {"name": "a\u0000", "model": "m", "tokenizer": "t"}, 400, "NUL"),
        ("PUT", "/pipelines/question_answer", {"glob": "*\u0000"}, 400, "NUL"),
        ("GET", f"/uploads?offset={2**63}", None, 400, "less than or equal"),
        ("GET", f"/repos/uploads/commits?before_seq={2**63}", None, 400, "less than or equal"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    api: Api, method: str, path: str, body: Any, code: int, detail: str
) -> None:
    response = api.client.request(method, path, json=body)
    assert response.status_code == code, response.text
    assert detail in response.json()["detail"]


def test_a_refused_setting_changes_nothing(api: Api) -> None:
    before = api.client.get("/pipelines/question_answer").json()

    # Python's json module reads Infinity; a spec holding it could not be read back.
    response = api.client.put(
        "/pipelines/question_answer",
        content=b'{"scan_interval_s": Infinity}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert "finite number" in response.json()["detail"]
    assert api.client.get("/pipelines/question_answer").json() == before


def test_a_refused_reprocess_changes_nothing(api: Api) -> None:
    before = api.client.get("/pipelines/question_answer").json()

    response = api.client.put(
        "/pipelines/question_answer", json={"shard_rows": 7, "reprocess": True}
    )

    assert response.status_code == 400, response.text
    assert response.json()["detail"] == (
        "Nothing to reprocess: the input repo 'uploads' has no commits yet."
    )
    assert api.client.get("/pipelines/question_answer").json() == before


def test_the_diff_refuses_commits_of_the_uploads_repo(api: Api) -> None:
    first = post_csv(api.client, question_csv(2))
    second = post_csv(api.client, question_csv(3))
    commits = [api.client.get(f"/uploads/{uid}").json()["commit_id"] for uid in (first, second)]

    response = api.client.get("/diff", params={"from": commits[0], "to": commits[1]})

    assert response.status_code == 400
    assert "holds input files" in response.json()["detail"]


@pytest.mark.integration
def test_on_s3_storage_an_upload_is_answered_into_the_history(
    api_settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    """The newcomer's journey with the bucket on a real S3 server (SeaweedFS)."""
    settings = api_settings.model_copy(
        update={
            **s3_server.settings_fields(tmp_path.name),
            "embedded_worker": True,
            "worker_poll_s": 0.1,
        }
    )
    started = int(time.time())
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        upload_id = post_csv(client, question_csv(5))
        status = answered(client, upload_id)
        assert status["state"] == "done"
        history = client.get(
            "/answer", params={"start": started, "end": int(time.time()), "source": "batch"}
        ).json()
    assert sorted(row["question"] for row in history) == sorted(
        f"Who wrote program {n}?" for n in range(5)
    )
    assert {row["upload_id"] for row in history} == {upload_id}
