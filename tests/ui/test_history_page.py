"""The History page against a live API."""

from __future__ import annotations

from datetime import datetime, timedelta

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import PageRunner, UiApi

CONTEXT = "Ada Lovelace wrote the first program for the Analytical Engine in 1843."


def _answer(ui_api: UiApi, question: str, model: str | None = None) -> None:
    params = {"model": model} if model else {}
    response = ui_api.client.post(
        "/answer", json={"question": question, "context": CONTEXT}, params=params
    )
    response.raise_for_status()


def _questions(page: AppTest) -> list[str]:
    return list(page.dataframe[0].value["question"])


def test_shows_charts_and_filters_the_answers_in_range(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    ui_api.client.put(
        "/models",
        json={"name": "copy", "model": str(ui_api.model_dir), "tokenizer": str(ui_api.model_dir)},
    ).raise_for_status()
    _answer(ui_api, "Who wrote it?")
    _answer(ui_api, "When?", model="copy")

    page = open_page("history")

    assert not page.exception
    assert not page.error
    assert _questions(page) == ["Who wrote it?", "When?"]
    assert [s.value for s in page.subheader] == ["2 answers, per hour"]
    assert page.get("arrow_bar_chart") or page.get("vega_lite_chart")
    assert [b.label for b in page.get("download_button")] == ["Download CSV"]

    page.selectbox(key="history_model").select("copy").run()
    assert _questions(page) == ["When?"]

    page.selectbox(key="history_model").select("All models")
    page.radio(key="history_source").set_value("Batch").run()
    assert [i.value for i in page.info] == ["No answers in this range."]


def test_the_range_comes_from_two_date_and_time_pickers(
    ui_api: UiApi, open_page: PageRunner
) -> None:
    _answer(ui_api, "Who wrote it?")
    page = open_page("history")
    assert _questions(page) == ["Who wrote it?"]

    past = datetime.now() - timedelta(days=30)
    page.datetime_input(key="history_start").set_value(past - timedelta(hours=1))
    page.datetime_input(key="history_end").set_value(past).run()
    assert [i.value for i in page.info] == ["No answers in this range."]

    page.datetime_input(key="history_start").set_value(past + timedelta(hours=1)).run()
    assert [w.value for w in page.warning] == ["The start is after the end: no answers in between."]


def test_api_down_is_a_readable_message(stopped_api_url: str, open_page: PageRunner) -> None:
    page = open_page("history")

    assert not page.exception
    assert [e.value.split(":")[0] for e in page.error] == ["Cannot reach the qaflow API at http"]
