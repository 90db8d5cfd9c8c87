"""The Upload page against a live API with its pipeline worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from qaflow.errors import QaflowError
from qaflow.services.pipeline_schemas import UploadStatus
from qaflow.ui import client as ui_client
from qaflow.ui.client import ApiClient
from qaflow.ui.views import upload as upload_view
from tests.support.live_server import live_api
from tests.ui.conftest import PageRunner, UiApi, ui_settings

GOOD_CSV = (
    b"id,question,context\n"
    b"1,Who wrote it?,Ada Lovelace wrote the first program.\n"
    b"2,Where is the tower?,The Eiffel Tower is in Paris.\n"
    b"3,When was it built?,It was finished in 1889.\n"
)
WAIT_S = 120.0


def _upload(page: AppTest, *files: tuple[str, bytes]) -> None:
    page.get("file_uploader")[0].set_value([(name, data, "text/csv") for name, data in files])
    page.run()
    next(b for b in page.button if b.label == "Send to the pipeline").click().run()


@pytest.fixture
def status_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The upload ids the pages ask GET /uploads/{id} about (the real call still runs)."""
    calls: list[str] = []
    real: Callable[[ApiClient, str], UploadStatus] = ui_client.ApiClient.upload_status

    def counted(self: ApiClient, upload_id: str) -> UploadStatus:
        calls.append(upload_id)
        return real(self, upload_id)

    monkeypatch.setattr(ui_client.ApiClient, "upload_status", counted)
    return calls


def _progress_labels(page: AppTest) -> list[str]:
    return [bar.proto.text for bar in page.get("progress")]


def _wait_for_results(page: AppTest) -> None:
    deadline = time.monotonic() + WAIT_S
    while not any(b.label == "Download answers (CSV)" for b in page.get("download_button")):
        assert not page.exception
        assert time.monotonic() < deadline, "the upload's answers did not appear"
        time.sleep(0.5)
        page.run()


def test_a_bad_csv_is_refused_with_the_apis_reason(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("upload")
    _upload(page, ("bad.csv", b"query,text\nwho?,me\n"))

    assert not page.exception
    (error,) = page.error
    assert error.value.startswith("**bad.csv** was not stored: ")
    assert "question" in error.value  # the API names the missing column
    assert ui_api.client.get("/uploads").json() == []


def test_uploads_follows_the_job_and_shows_the_answers(
    ui_api: UiApi, open_page: PageRunner, status_calls: list[str]
) -> None:
    page = open_page("upload")
    assert [i.value for i in page.info] == ["No uploads yet.", "No uploads yet."]

    _upload(page, ("questions.csv", GOOD_CSV), ("empty.csv", b"question,context\n"))

    notices = {s.value.split("**")[1]: s.value for s in page.success}
    assert list(notices) == ["questions.csv"]
    assert "3 rows" in notices["questions.csv"]
    assert [e.value.split(":")[0] for e in page.error] == ["**empty.csv** was not stored"]
    assert page.subheader[0].value == "Progress"
    assert page.get("progress")  # one bar per upload of the session

    _wait_for_results(page)

    assert "3 rows." in [c.value for c in page.caption]
    answers = page.dataframe[0].value
    assert list(answers["question"]) == [
        "Who wrote it?",
        "Where is the tower?",
        "When was it built?",
    ]
    assert list(answers["id"].astype(str)) == ["1", "2", "3"]  # the upload's own columns are kept
    assert answers["answer"].notna().all()
    earlier = page.dataframe[1].value
    assert list(earlier["file"]) == ["questions.csv"]
    assert list(earlier["state"]) == ["done"]
    assert status_calls == []  # every state came with the list of uploads


def test_an_upload_pushed_off_the_list_is_followed_on_its_own(
    ui_api: UiApi,
    open_page: PageRunner,
    status_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upload_view, "EARLIER_SHOWN", 1)
    page = open_page("upload")

    _upload(page, ("first.csv", GOOD_CSV), ("second.csv", GOOD_CSV + b"4,Who?,Ada.\n"))
    deadline = time.monotonic() + WAIT_S
    while not all(" — done (" in label for label in _progress_labels(page)):
        assert not page.exception
        assert time.monotonic() < deadline, "the uploads were not answered"
        time.sleep(0.5)
        page.run()

    assert [label.split("**")[1] for label in _progress_labels(page)] == [
        "second.csv",
        "first.csv",
    ]
    older = ui_api.client.get("/uploads", params={"offset": 1}).json()[0]["id"]
    assert set(status_calls) == {older}
    assert list(page.dataframe[1].value["file"]) == ["second.csv"]


def test_the_answers_client_reads_a_page_and_the_total(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    page = open_page("upload")
    _upload(page, ("questions.csv", GOOD_CSV))
    _wait_for_results(page)
    [upload] = ui_api.client.get("/uploads").json()

    with ApiClient(ui_api.url) as client:
        answers = client.upload_answers(upload["id"], limit=2, offset=1)

    assert answers.total == 3
    assert [row["question"] for row in answers.rows] == [
        "Where is the tower?",
        "When was it built?",
    ]


def test_api_down_is_a_readable_message(stopped_api_url: str, open_page: PageRunner) -> None:
    page = open_page("upload")

    assert not page.exception
    assert [e.value.split(":")[0] for e in page.error] == ["Cannot reach the qaflow API at http"]


def test_the_results_follow_the_newest_upload(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("upload")
    _upload(page, ("first.csv", GOOD_CSV))
    _wait_for_results(page)
    _upload(page, ("second.csv", GOOD_CSV + b"4,Who?,Ada.\n"))

    newest = ui_api.client.get("/uploads").json()[0]
    assert newest["filename"] == "second.csv"
    assert page.selectbox(key=upload_view.RESULTS_KEY).value == newest["id"]


def test_uploads_in_work_are_followed_in_a_new_session(
    tmp_path: Path, tiny_model_dir: Path, open_page: PageRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No pipeline worker: the upload stays queued while the page is looked at.
    settings = ui_settings(tmp_path / "home", tiny_model_dir, embedded_worker=False)
    with live_api(settings) as url:
        monkeypatch.setenv("QAFLOW_API_URL", url)
        made = httpx.post(
            f"{url}/upload", files={"file": ("elsewhere.csv", GOOD_CSV, "text/csv")}, timeout=60
        )
        assert made.status_code == 200, made.text
        page = open_page("upload")  # a reload: a new session with nothing of its own

    assert not page.exception
    assert page.subheader[0].value == "Progress"
    (label,) = _progress_labels(page)
    assert label.split("**")[1] == "elsewhere.csv"
    assert " — queued (" in label


def test_progress_polling_survives_an_api_outage(stopped_api_url: str) -> None:
    # The timed reruns of the progress fragment run outside the page's error handling.
    def progress_only(url: str) -> None:
        from qaflow.ui.client import ApiClient
        from qaflow.ui.views import upload

        upload._progress(ApiClient(url), ["0123456789abcdef"])

    page = AppTest.from_function(progress_only, args=(stopped_api_url,), default_timeout=60).run()

    assert not page.exception
    (error,) = page.error
    assert error.value.startswith(f"Cannot reach the qaflow API at {stopped_api_url}")
    assert "Trying again every second." in [c.value for c in page.caption]


def test_a_failed_download_is_an_error_not_a_file(stopped_api_url: str) -> None:
    fetch = upload_view._csv_download(ApiClient(stopped_api_url), "0123456789abcdef")

    with pytest.raises(QaflowError, match="Cannot reach the qaflow API"):
        fetch()
