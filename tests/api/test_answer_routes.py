from __future__ import annotations

import time

from qaflow.api.errors import UNREADABLE_BODY
from tests.api.conftest import Api

CONTEXT = "The Eiffel Tower is in Paris. It was completed in 1889 by Gustave Eiffel's company."


def _ask(
    api: Api, question: str = "Where is the Eiffel Tower?", **params: str
) -> dict[str, object]:
    response = api.client.post(
        "/answer", json={"question": question, "context": CONTEXT}, params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_answer_has_the_original_shape_and_a_span_of_the_context(api: Api) -> None:
    before = int(time.time())
    body = _ask(api)
    assert {"timestamp", "model", "answer", "question", "context"} <= body.keys()
    assert body["model"] == "tiny"
    assert body["question"] == "Where is the Eiffel Tower?"
    assert body["context"] == CONTEXT
    assert isinstance(body["timestamp"], int)
    assert before <= body["timestamp"] <= int(time.time())
    start, end = body["start"], body["end"]
    assert isinstance(start, int)
    assert isinstance(end, int)
    assert CONTEXT[start:end] == body["answer"]
    assert isinstance(body["score"], float)


def test_answers_are_stored_and_listed_oldest_first(api: Api) -> None:
    first = _ask(api, "Where is the Eiffel Tower?")
    second = _ask(api, "When was it completed?")
    listed = api.client.get(
        "/answer", params={"start": first["timestamp"], "end": second["timestamp"]}
    )
    assert listed.status_code == 200
    assert [row["question"] for row in listed.json()] == [
        "Where is the Eiffel Tower?",
        "When was it completed?",
    ]
    assert listed.json()[0] == first


def test_listing_respects_the_time_window_and_model(api: Api) -> None:
    body = _ask(api)
    stamp = body["timestamp"]
    assert isinstance(stamp, int)
    assert api.client.get("/answer", params={"start": stamp + 1, "end": stamp + 100}).json() == []
    assert api.client.get("/answer", params={"start": stamp - 100, "end": stamp - 1}).json() == []
    inside = api.client.get("/answer", params={"start": stamp, "end": stamp, "model": "tiny"})
    assert len(inside.json()) == 1
    other = api.client.get("/answer", params={"start": stamp, "end": stamp, "model": "other"})
    assert other.json() == []


def test_listing_without_timestamps_is_400(api: Api) -> None:
    response = api.client.get("/answer", params={"start": 1})
    assert response.status_code == 400
    assert response.json() == {"detail": "Query timestamps not provided"}


def test_unknown_model_is_400_model_not_found(api: Api) -> None:
    response = api.client.post(
        "/answer", params={"model": "nope"}, json={"question": "q?", "context": CONTEXT}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Model not found: 'nope' is not registered."}


def test_bad_bodies_are_400_and_store_nothing(api: Api) -> None:
    cases = [
        ({"context": CONTEXT}, "'question' is required"),
        ({"question": "   ", "context": CONTEXT}, "question"),
        ({"question": "Where?", "context": ""}, "context"),
        ({"question": 42, "context": CONTEXT}, "question"),
        ({"question": "Where\u0000?", "context": CONTEXT}, "must not contain NUL"),
        # Not ignored: the client believes it chose the model or sent that field.
        (
            {"question": "Where?", "context": CONTEXT, "model": "other"},
            "name a model with ?model=NAME",
        ),
        (
            {"question": "Where?", "context": CONTEXT, "top_k": 3},
            "'top_k' is not a field of this request",
        ),
    ]
    for body, expected in cases:
        response = api.client.post("/answer", json=body)
        assert response.status_code == 400, body
        assert expected in response.json()["detail"], response.json()
        assert "Value error" not in response.json()["detail"]
    not_json = api.client.post(
        "/answer", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json() == {"detail": "The request body is not valid JSON."}
    not_utf8 = api.client.post(
        "/answer",
        content=b'{"question": "Wh\xffere?", "context": "Paris."}',
        headers={"content-type": "application/json"},
    )
    assert not_utf8.status_code == 400
    assert not_utf8.json() == {"detail": UNREADABLE_BODY}
    assert api.client.get("/answer", params={"start": 0, "end": 9_999_999_999}).json() == []
