"""The web app's API client against a live API: typed answers, readable errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qaflow.services.schemas import ModelCreate
from qaflow.ui.client import ApiClient, ApiRequestError, ApiUnavailableError
from tests.ui.conftest import UiApi


def test_answers_and_lists_them_by_time(ui_api: UiApi) -> None:
    with ApiClient(ui_api.url) as client:
        answer = client.answer("Who?", "Ada wrote it.")
        now = datetime.now(UTC)
        listed = client.list_answers(start=now - timedelta(minutes=5), end=now, source="online")
        later = client.list_answers(start=now + timedelta(hours=1), end=now + timedelta(hours=2))

    assert answer.model == "tiny"
    assert [a.question for a in listed] == ["Who?"]
    assert later == []


def test_an_unreachable_api_is_named_in_the_error(stopped_api_url: str) -> None:
    with ApiClient(stopped_api_url) as client, pytest.raises(ApiUnavailableError) as caught:
        client.list_models()

    assert caught.value.message.startswith(f"Cannot reach the qaflow API at {stopped_api_url}: ")


def test_a_4xx_carries_the_apis_detail(ui_api: UiApi) -> None:
    with ApiClient(ui_api.url) as client, pytest.raises(ApiRequestError) as caught:
        client.delete_model("tiny")

    assert caught.value.status_code == 400
    assert caught.value.message == "Model 'tiny' is the default model and cannot be deleted."


def test_a_missing_thing_and_a_missing_route_are_told_apart(ui_api: UiApi) -> None:
    with ApiClient(ui_api.url) as client, pytest.raises(ApiRequestError) as missing:
        client.upload_status("nope")
    with ApiClient(f"{ui_api.url}/v9") as client, pytest.raises(ApiRequestError) as no_route:
        client.list_models()

    assert missing.value.not_found
    assert missing.value.message == "Upload 'nope' not found."
    assert not no_route.value.not_found
    assert no_route.value.message.startswith("This qaflow API has no route GET /models (HTTP 404)")


def test_validation_errors_of_a_bad_model_come_back_as_one_sentence(ui_api: UiApi) -> None:
    bad = ModelCreate(name="x", model="/does/not/exist", tokenizer="/does/not/exist")
    with ApiClient(ui_api.url) as client, pytest.raises(ApiRequestError) as caught:
        client.add_model(bad)

    assert caught.value.status_code == 400
    assert "Traceback" not in caught.value.message
    assert "/does/not/exist" in caught.value.message or "'x'" in caught.value.message
