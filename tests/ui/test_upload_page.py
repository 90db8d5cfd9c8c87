"""The Upload page against a live API with its pipeline worker."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import PageRunner, UiApi

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
    next(b for b in page.button if b.label == "Upload").click().run()


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
    ui_api: UiApi, open_page: PageRunner
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


def test_api_down_is_a_readable_message(stopped_api_url: str, open_page: PageRunner) -> None:
    page = open_page("upload")

    assert not page.exception
    assert [e.value.split(":")[0] for e in page.error] == ["Cannot reach the qaflow API at http"]
