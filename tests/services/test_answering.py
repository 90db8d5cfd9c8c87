"""The answering service: one micro-batcher per model name, replaced when the name moves."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from qaflow.config import Settings
from qaflow.reader import ModelSpec, ReaderCache
from qaflow.services.answering import AnsweringService
from tests.support.tiny_model import build_tiny_qa_model

QUESTION = "Who wrote the program?"
CONTEXT = "Ada Lovelace wrote the program in 1843."


def _batcher_threads(name: str) -> int:
    return sum(thread.name == f"qaflow-batcher-{name}" for thread in threading.enumerate())


def test_a_name_registered_again_gets_one_batcher_and_the_old_one_ends(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    other_dir = build_tiny_qa_model(tmp_path / "other", seed=1)
    first = ModelSpec("reused-name", str(tiny_model_dir), str(tiny_model_dir))
    second = ModelSpec("reused-name", str(other_dir), str(other_dir))
    service = AnsweringService(readers=ReaderCache(), settings=Settings())
    try:
        asyncio.run(service.answer(first, QUESTION, CONTEXT))
        asyncio.run(service.answer(first, QUESTION, CONTEXT))
        asyncio.run(service.answer(second, QUESTION, CONTEXT))

        assert {name: s.requests for name, s in service.stats().items()} == {"reused-name": 1}
        deadline = time.monotonic() + 30
        while _batcher_threads("reused-name") > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _batcher_threads("reused-name") == 1
    finally:
        service.close()
    assert _batcher_threads("reused-name") == 0
