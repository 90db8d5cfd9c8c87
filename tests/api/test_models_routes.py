from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api


def test_root_says_it_is_running(api: Api) -> None:
    response = api.client.get("/")
    assert response.status_code == 200
    assert "qaflow" in response.json()["message"]


def test_models_lists_the_default_entry(api: Api) -> None:
    response = api.client.get("/models")
    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "tiny",
            "tokenizer": str(api.model_dir),
            "model": str(api.model_dir),
            "backend": "torch",
            "default": True,
        }
    ]


def test_put_model_adds_once_and_updates_in_place(api: Api) -> None:
    body = {"name": "second", "tokenizer": str(api.model_dir), "model": str(api.model_dir)}
    first = api.client.put("/models", json=body)
    again = api.client.put("/models", json=body)
    assert first.status_code == 200
    assert again.status_code == 200
    names = [entry["name"] for entry in again.json()]
    assert names == ["tiny", "second"]


def test_put_model_that_cannot_load_is_rejected_and_not_stored(api: Api, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    response = api.client.put(
        "/models", json={"name": "broken", "tokenizer": str(missing), "model": str(missing)}
    )
    assert response.status_code == 400
    assert "no-such-model" in response.json()["detail"]
    assert [entry["name"] for entry in api.client.get("/models").json()] == ["tiny"]


def test_put_model_with_missing_field_is_400_with_a_message(api: Api) -> None:
    response = api.client.put("/models", json={"name": "x", "model": "y"})
    assert response.status_code == 400
    assert "'tokenizer' is required" in response.json()["detail"]


def test_delete_model_returns_the_updated_list(api: Api) -> None:
    body = {"name": "second", "tokenizer": str(api.model_dir), "model": str(api.model_dir)}
    api.client.put("/models", json=body)
    response = api.client.delete("/models", params={"model": "second"})
    assert response.status_code == 200
    assert [entry["name"] for entry in response.json()] == ["tiny"]


def test_delete_model_without_name_is_400(api: Api) -> None:
    response = api.client.delete("/models")
    assert response.status_code == 400
    assert response.json() == {"detail": "Model name not provided in query string"}


def test_delete_default_model_is_refused(api: Api) -> None:
    response = api.client.delete("/models", params={"model": "tiny"})
    assert response.status_code == 400
    assert "default" in response.json()["detail"]
    assert [entry["name"] for entry in api.client.get("/models").json()] == ["tiny"]


def test_delete_unknown_model_is_404(api: Api) -> None:
    response = api.client.delete("/models", params={"model": "nope"})
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]
