"""The model qaflow ships: it loads offline and answers plain factual questions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from qaflow.config import Settings
from qaflow.errors import ModelLoadError
from qaflow.reader import Backend, ModelSpec, load_reader
from qaflow.reader.bundled import bundled_models, resolve_ref

BUNDLED = "bundled:minilm-l6-squad"

FACTS = [
    (
        "Where is the Eiffel Tower?",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by "
        "the engineering company of Gustave Eiffel and completed in 1889.",
        "Paris",
    ),
    (
        "When was the Eiffel Tower completed?",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by "
        "the engineering company of Gustave Eiffel and completed in 1889.",
        "1889",
    ),
    (
        "Who wrote Pride and Prejudice?",
        "Pride and Prejudice is an 1813 novel of manners written by Jane Austen. It follows the "
        "character development of Elizabeth Bennet.",
        "Jane Austen",
    ),
    (
        "What is the capital of Japan?",
        "Japan is an island country in East Asia. Its capital and largest city is Tokyo, one of "
        "the most populous urban areas in the world.",
        "Tokyo",
    ),
    (
        "How many moons does Mars have?",
        "Mars is the fourth planet from the Sun. It has two small moons, Phobos and Deimos, which "
        "are thought to be captured asteroids.",
        "two",
    ),
]


def test_the_default_settings_point_at_the_bundled_model() -> None:
    assert "minilm-l6-squad" in bundled_models()
    assert Settings().default_model_ref == BUNDLED


def test_an_unknown_bundled_name_lists_what_is_shipped() -> None:
    with pytest.raises(ModelLoadError, match="minilm-l6-squad"):
        resolve_ref("bundled:nope")


@pytest.fixture(scope="module")
def onnx_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A QAFLOW_HOME of the module's own, so the int8 export is built once and not in ~."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QAFLOW_HOME", str(tmp_path_factory.mktemp("home")))
        yield


# onnx-int8 is what the default registry entry runs, torch what any transformers user gets
@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_the_bundled_model_answers_plain_factual_questions(
    backend: Backend, onnx_home: None
) -> None:
    reader = load_reader(
        ModelSpec(name="bundled", model=BUNDLED, tokenizer=BUNDLED, backend=backend)
    )
    answers = reader.answer([q for q, _, _ in FACTS], [c for _, c, _ in FACTS])
    for (_, context, expected), (best, *_) in zip(FACTS, answers, strict=True):
        assert expected.lower() in best.text.lower(), (expected, best)
        assert context[best.start : best.end] == best.text


def test_the_bundled_model_loads_with_the_hub_unreachable() -> None:
    script = (
        "from qaflow.reader import ModelSpec, load_reader\n"
        f"r = load_reader(ModelSpec(name='b', model={BUNDLED!r}, tokenizer={BUNDLED!r}))\n"
        "print(r.answer_one('Who wrote it?', 'It was written by Jane Austen in 1813.')[0].text)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent-hf-home"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "Jane Austen" in result.stdout
