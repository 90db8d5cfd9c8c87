"""The Models page against a live API."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qaflow.ui.formatting import md_text
from tests.support.live_server import live_api
from tests.ui.conftest import PageRunner, UiApi, ui_settings


def _add(page: AppTest, name: str, model: str) -> None:
    page.text_input(key="models_add_name").input(name)
    page.text_input(key="models_add_model").input(model)
    page.button(key="FormSubmitter:models_add-Add model").click().run()


def _delete(page: AppTest, name: str) -> None:
    page.selectbox(key="models_delete_name").select(name)
    next(b for b in page.button if b.label == "Delete model").click().run()


def _listed(page: AppTest) -> list[str]:
    return list(page.dataframe[0].value["name"])


def test_lists_models_with_where_they_come_from(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("models")

    assert not page.exception
    table = page.dataframe[0].value
    assert list(table["name"]) == ["tiny"]
    assert list(table["model"]) == [str(ui_api.model_dir)]
    if "default" in table:  # an API that marks its default model
        assert list(table["default"]) == [True]


def test_adds_then_deletes_a_model(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("models")
    _add(page, "tiny-copy", str(ui_api.model_dir))

    assert [s.value for s in page.success] == ["Model 'tiny-copy' added."]
    assert _listed(page) == ["tiny", "tiny-copy"]
    stored = {m["name"]: m for m in ui_api.client.get("/models").json()}
    assert stored["tiny-copy"]["tokenizer"] == str(ui_api.model_dir)  # defaults to the model

    _delete(page, "tiny-copy")

    assert [s.value for s in page.success] == ["Model 'tiny-copy' deleted."]
    assert _listed(page) == ["tiny"]


def test_a_model_that_cannot_load_shows_the_apis_message(
    ui_api: UiApi, open_page: PageRunner, tmp_path: Path
) -> None:
    page = open_page("models")
    _add(page, "broken", str(tmp_path / "no-such-model"))

    (error,) = page.error
    assert "broken" in error.value or "no-such-model" in error.value
    assert "Traceback" not in error.value
    assert _listed(page) == ["tiny"]


def test_the_default_is_not_offered_for_deletion(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("models")

    assert "The default model, 'tiny', cannot be deleted." in [c.value for c in page.caption]
    assert "No other model is registered." in [c.value for c in page.caption]
    assert not any(b.label == "Delete model" for b in page.button)

    _add(page, "tiny-copy", str(ui_api.model_dir))

    assert page.selectbox(key="models_delete_name").options == ["tiny-copy"]


def test_adding_a_name_again_says_it_was_updated(ui_api: UiApi, open_page: PageRunner) -> None:
    page = open_page("models")
    _add(page, "tiny-copy", str(ui_api.model_dir))
    _add(page, "tiny-copy", str(ui_api.model_dir))

    assert [s.value for s in page.success] == ["Model 'tiny-copy' updated."]
    assert _listed(page) == ["tiny", "tiny-copy"]


def test_an_api_outage_keeps_what_was_typed(
    tmp_path: Path, tiny_model_dir: Path, open_page: PageRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_api(ui_settings(tmp_path / "home", tiny_model_dir)) as url:
        monkeypatch.setenv("QAFLOW_API_URL", url)
        page = open_page("models")
    _add(page, "later", str(tiny_model_dir))  # the API is gone

    assert not page.exception
    assert {e.value.split(": ")[0] for e in page.error} == {f"Cannot reach the qaflow API at {url}"}
    assert page.text_input(key="models_add_name").value == "later"
    assert page.text_input(key="models_add_model").value == str(tiny_model_dir)


def test_the_api_token_is_sent_and_a_wrong_one_reported(
    tmp_path: Path, tiny_model_dir: Path, open_page: PageRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ui_settings(tmp_path / "home", tiny_model_dir, api_token="s3cret")
    with live_api(settings) as url:
        monkeypatch.setenv("QAFLOW_API_URL", url)
        monkeypatch.setenv("QAFLOW_API_TOKEN", "wrong")
        page = open_page("models")
        _add(page, "tiny-copy", str(tiny_model_dir))
        assert [e.value for e in page.error] == [
            md_text(
                "The qaflow API refused this app's token (HTTP 401): start the web app with "
                "QAFLOW_API_TOKEN set to the API's token."
            )
        ]

        monkeypatch.setenv("QAFLOW_API_TOKEN", "s3cret")
        page = open_page("models")
        _add(page, "tiny-copy", str(tiny_model_dir))
        assert not page.error
        assert _listed(page) == ["tiny", "tiny-copy"]
