"""Fixtures of the web app tests: a live API on SQLite with the tiny model, and page runners."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from qaflow.config import Settings
from tests.support.live_server import free_port, live_api

PAGE_TIMEOUT_S = 60.0


@dataclass
class UiApi:
    url: str
    client: httpx.Client
    settings: Settings
    model_dir: Path


def ui_settings(home: Path, tiny_model_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": f"sqlite:///{home / 'qaflow.db'}",
        "default_model": "tiny",
        "default_model_ref": str(tiny_model_dir),
        "default_model_backend": "torch",
        "batch_wait_ms": 5,
        "embedded_worker": True,  # uploads are answered by the API's own pipeline worker
        "worker_poll_s": 0.2,
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def ui_api(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UiApi]:
    """A live API; the pages (run in this process) are pointed at it via QAFLOW_API_URL."""
    settings = ui_settings(tmp_path / "home", tiny_model_dir)
    with live_api(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        monkeypatch.setenv("QAFLOW_API_URL", url)
        monkeypatch.delenv("QAFLOW_API_TOKEN", raising=False)
        yield UiApi(url=url, client=client, settings=settings, model_dir=tiny_model_dir)


@pytest.fixture
def stopped_api_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """The address of an API that is not running (nothing listens on the port)."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("QAFLOW_API_URL", url)
    monkeypatch.delenv("QAFLOW_API_TOKEN", raising=False)
    return url


PageRunner = Callable[[str], AppTest]


@pytest.fixture
def open_page() -> PageRunner:
    """Run one page of the web app once, as a browser session would; returns the AppTest."""

    def run(name: str) -> AppTest:
        script = f"from qaflow.ui.app import render_page\nrender_page({name!r})\n"
        return AppTest.from_string(script, default_timeout=PAGE_TIMEOUT_S).run()

    return run
