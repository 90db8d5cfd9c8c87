"""The Ask page against a live API."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.live_server import live_api
from tests.ui.conftest import PageRunner, UiApi, ui_settings

CONTEXT = "The <b>Eiffel Tower</b> is in Paris & was finished in 1889.\nIt is 330 m tall."


def _page_html(page: AppTest) -> str:
    return "".join(str(element.value) for element in page.get("html"))


def _ask(page: AppTest, question: str, context: str) -> None:
    page.text_input(key="ask_question").input(question)
    page.text_area(key="ask_context").input(context)
    page.button[0].click().run()


def test_asks_and_marks_the_answer_inside_the_escaped_context(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    page = open_page("ask")
    # The default model is preselected: by name when the API marks it, else as "Default model".
    picker = page.selectbox(key="ask_model")
    assert picker.options in (["tiny"], ["Default model", "tiny"])
    assert picker.index == 0

    _ask(page, "Where is the tower?", CONTEXT)

    assert not page.exception
    assert not page.error
    (stored,) = ui_api.client.get("/answer", params={"start": 0, "end": 2**31}).json()
    shown = _page_html(page)
    marked = html.escape(CONTEXT[stored["start"] : stored["end"]])
    assert f">{marked}</mark>" in shown
    assert html.escape(stored["answer"]) in shown
    assert f"score {stored['score']:.3f} · model tiny" in shown
    assert "<b>" not in shown  # the context's markup is shown as text, never rendered
    # The session's answers are listed under the answer.
    (table,) = page.dataframe
    assert list(table.value["question"]) == ["Where is the tower?"]


def test_lists_this_sessions_answers_newest_first(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("ask")
    _ask(page, "Where is the tower?", CONTEXT)
    _ask(page, "How tall is it?", CONTEXT)

    assert list(page.dataframe[0].value["question"]) == ["How tall is it?", "Where is the tower?"]


def test_blank_question_is_refused_before_calling_the_api(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    page = open_page("ask")
    _ask(page, "   ", CONTEXT)

    assert [w.value for w in page.warning] == ["Enter both a question and a context."]
    assert ui_api.client.get("/answer", params={"start": 0, "end": 2**31}).json() == []


def test_api_down_is_a_readable_message(stopped_api_url: str, open_page: PageRunner) -> None:
    page = open_page("ask")

    assert not page.exception
    (error,) = page.error
    assert error.value.startswith(f"Cannot reach the qaflow API at {stopped_api_url}: ")
    # The form is drawn all the same: what is typed survives until the API is back.
    assert page.text_input(key="ask_question") is not None


def test_an_api_stopped_while_the_page_is_open_is_a_readable_message(
    tmp_path: Path, tiny_model_dir: Path, open_page: PageRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_api(ui_settings(tmp_path / "home", tiny_model_dir)) as url:
        monkeypatch.setenv("QAFLOW_API_URL", url)
        page = open_page("ask")
        assert not page.error
    # The API is gone; the pooled connection of the last run is stale.
    _ask(page, "Where is the tower?", CONTEXT)

    assert not page.exception
    # Listing the models and answering both failed; the form still holds what was typed.
    assert {e.value.split(": ")[0] for e in page.error} == {f"Cannot reach the qaflow API at {url}"}
    assert page.text_input(key="ask_question").value == "Where is the tower?"
    assert page.text_area(key="ask_context").value == CONTEXT


def test_a_model_deleted_after_it_was_chosen_is_not_replaced_unnoticed(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    added = ui_api.client.put(
        "/models",
        json={"name": "gone", "model": str(ui_api.model_dir), "tokenizer": str(ui_api.model_dir)},
    )
    assert added.status_code == 200, added.text
    page = open_page("ask")
    page.selectbox(key="ask_model").select("gone")
    assert ui_api.client.delete("/models", params={"model": "gone"}).status_code == 200

    _ask(page, "Where is the tower?", CONTEXT)

    assert not page.exception
    assert page.selectbox(key="ask_model").value == "gone"
    assert "gone (no longer listed)" in page.selectbox(key="ask_model").options
    (error,) = page.error
    assert "gone" in error.value
    assert "not found" in error.value.lower()
    assert ui_api.client.get("/answer", params={"start": 0, "end": 2**31}).json() == []
