from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from qaflow.config import Settings
from tests.api.conftest import Api
from tests.support.live_server import live_api


def test_healthz_reports_each_component(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["storage"] == "ok"
    assert body["default_model"] in ("loaded", "not loaded yet (loads on first use)")
    assert body["pipeline_worker"] == "off"  # this server runs no embedded worker


@pytest.mark.integration
def test_a_failing_pipeline_worker_degrades_the_health_but_the_api_serves(
    api_settings: Settings,
) -> None:
    pytest.importorskip("ray")
    with socket.socket() as closed:  # a Ray address nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = api_settings.model_copy(
        update={"embedded_worker": True, "executor": "ray", "ray_address": f"127.0.0.1:{port}"}
    )
    with live_api(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.monotonic() + 60
        while not (body := client.get("/healthz").json())["pipeline_worker"].startswith("failing"):
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        response = client.get("/healthz")

    assert response.status_code == 200  # the API itself still answers
    assert response.json()["status"] == "degraded"
    assert "cannot reach the Ray cluster" in response.json()["pipeline_worker"]


def test_the_default_model_is_loaded_at_start_up_without_a_request(api: Api) -> None:
    deadline = time.monotonic() + 120
    while api.client.get("/healthz").json()["default_model"] != "loaded":
        assert time.monotonic() < deadline, "the default model was not preloaded"
        time.sleep(0.2)


def test_openapi_docs_are_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/", "/models", "/answer", "/upload", "/healthz"} <= paths.keys()


@pytest.fixture
def guarded(api_settings: Settings) -> Iterator[httpx.Client]:
    settings = api_settings.model_copy(update={"api_token": SecretStr("s3cret")})
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def test_token_guards_state_changing_routes(guarded: httpx.Client, tiny_model_dir: Path) -> None:
    body = {"name": "x", "tokenizer": str(tiny_model_dir), "model": str(tiny_model_dir)}
    assert guarded.put("/models", json=body).status_code == 401
    wrong = guarded.put("/models", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "token" in wrong.json()["detail"]
    assert guarded.delete("/models", params={"model": "x"}).status_code == 401
    question = {"question": "Who?", "context": "Ada wrote it."}
    assert guarded.post("/answer", json=question).status_code == 401
    ok = guarded.put("/models", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert guarded.get("/models").status_code == 200  # reads stay open
