from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from qaflow.config import Settings
from tests.support.live_server import live_api


@dataclass
class Api:
    client: httpx.Client
    settings: Settings
    model_dir: Path


@pytest.fixture
def api_settings(tmp_path: Path, database_url: str, tiny_model_dir: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        default_model="tiny",
        default_model_ref=str(tiny_model_dir),
        default_model_backend="torch",
        batch_wait_ms=20,
    )


@pytest.fixture
def api(api_settings: Settings, tiny_model_dir: Path) -> Iterator[Api]:
    with live_api(api_settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield Api(client=client, settings=api_settings, model_dir=tiny_model_dir)
