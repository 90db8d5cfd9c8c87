"""The Data & lineage page against a live API with its pipeline worker."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.support.tiny_model import build_tiny_qa_model
from tests.ui.conftest import PageRunner, UiApi
from tests.ui.test_upload_page import GOOD_CSV

WAIT_S = 120.0


def _wait_for_jobs(ui_api: UiApi, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        jobs = ui_api.client.get("/jobs").json()
        output_commits = ui_api.client.get("/repos/question_answer/commits")
        egressed = output_commits.status_code == 200 and all(
            c["egressed_at"] for c in output_commits.json()
        )
        if len(jobs) >= count and all(j["state"] == "done" for j in jobs) and egressed:
            return list(jobs)
        assert time.monotonic() < deadline, f"jobs not done in time: {jobs}"
        time.sleep(0.3)


def _upload(ui_api: UiApi) -> str:
    response = ui_api.client.post(
        "/upload", files={"file": ("questions.csv", GOOD_CSV, "text/csv")}
    )
    response.raise_for_status()
    return str(response.json()["upload_id"])


def _graph(page: AppTest) -> str:
    (chart,) = page.get("graphviz_chart")
    return str(chart.proto.spec)


def test_before_any_upload_it_says_there_is_no_data(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("lineage")

    assert not page.exception
    assert not page.error
    assert "No data yet: upload a CSV first." in [i.value for i in page.info]


def test_draws_an_uploads_provenance_through_job_and_output_to_sql(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    upload_id = _upload(ui_api)
    (job,) = _wait_for_jobs(ui_api, 1)

    page = open_page("lineage")

    assert not page.exception
    assert not page.error
    repos = page.dataframe[0].value
    assert sorted(repos["repo"]) == ["question_answer", "uploads"]
    page.selectbox(key="lineage_repo").select("uploads").run()
    graph = _graph(page)
    assert f"upload:{upload_id}/questions.csv" in graph
    assert f"job:{job['id']}" in graph
    assert f"commit:{job['output_commit_id']}" in graph
    assert "SQL table" in graph
    assert "not yet in SQL" not in graph
    # The pipeline tab lists the job, finished.
    jobs = next(df.value for df in page.dataframe if "shards" in df.value.columns)
    assert list(jobs["job"]) == [job["id"]]
    assert list(jobs["state"]) == ["done"]


def test_diffs_the_answers_of_two_pipeline_versions(
    ui_api: UiApi, open_page: PageRunner, tmp_path: Path
) -> None:
    _upload(ui_api)
    _wait_for_jobs(ui_api, 1)
    other = build_tiny_qa_model(tmp_path / "other-model", seed=7)
    ui_api.client.put(
        "/models", json={"name": "other", "model": str(other), "tokenizer": str(other)}
    ).raise_for_status()
    ui_api.client.put(
        "/pipelines/question_answer", json={"model": "other", "reprocess": True}
    ).raise_for_status()
    _wait_for_jobs(ui_api, 2)

    page = open_page("lineage")

    assert not page.exception
    assert not page.error
    metrics = {m.label: m.value for m in page.metric}
    assert metrics == {"Files added": "0", "Files removed": "0", "Files changed": "1"}
    changed = next(df.value for df in page.dataframe if "new_answer" in df.value.columns)
    assert 1 <= len(changed) <= 3
    assert any("version 2" in s.value for s in page.subheader)


def test_api_down_is_a_readable_message_in_each_section(
    stopped_api_url: str, open_page: PageRunner
) -> None:
    page = open_page("lineage")

    assert not page.exception
    assert [e.value.split(":")[0] for e in page.error] == [
        "Cannot reach the qaflow API at http"
    ] * 3
