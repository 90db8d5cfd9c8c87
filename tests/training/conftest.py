"""Fixtures of the training tests: a tiny random base model and a small synthetic data set."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qaflow.training import TrainingConfig
from tests.support.tiny_model import build_tiny_qa_model

PEOPLE = [
    ("Ada Lovelace", "London", "1815", "mathematician"),
    ("Alan Turing", "Maida Vale", "1912", "logician"),
    ("Grace Hopper", "New York", "1906", "admiral"),
    ("Edsger Dijkstra", "Rotterdam", "1930", "physicist"),
    ("Barbara Liskov", "Los Angeles", "1939", "professor"),
    ("Donald Knuth", "Milwaukee", "1938", "author"),
]


def qa_records() -> list[dict[str, Any]]:
    """Three questions about each of six people; every person is one article."""
    records = []
    for a, (name, city, year, job) in enumerate(PEOPLE):
        context = f"{name} was born in {city} in {year}. Later {name} worked as a {job}."
        for q, (question, answer) in enumerate(
            [
                (f"Where was {name} born?", city),
                (f"In which year was {name} born?", year),
                (f"What did {name} work as?", job),
            ]
        ):
            records.append(
                {
                    "id": f"t-a{a}-q{q}",
                    "title": name.replace(" ", "_"),
                    "context": context,
                    "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(answer)}],
                }
            )
    return records


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-base"), hidden=32, layers=2)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    lines = "".join(json.dumps(r) + "\n" for r in qa_records())
    (directory / "people.jsonl.gz").write_bytes(gzip.compress(lines.encode("utf-8")))
    (directory / "ambiguous.txt").write_text("t-a0-q0\n", encoding="utf-8")
    return directory


@pytest.fixture
def make_config(tiny_base: Path, data_dir: Path, tmp_path: Path) -> Callable[..., TrainingConfig]:
    """A quick config over the synthetic data; keyword overrides use dotted names."""

    def build(output: str = "run", **overrides: Any) -> TrainingConfig:
        config = TrainingConfig.model_validate(
            {
                "model": {"base": str(tiny_base), "name": "tiny-test"},
                "data": {
                    "dir": str(data_dir),
                    "train_files": ["people.jsonl.gz"],
                    "ambiguous_ids_file": "ambiguous.txt",
                    "dev_fraction": 0.34,
                },
                "preprocessing": {"max_seq_len": 64, "doc_stride": 16, "max_question_len": 24},
                "optimization": {"batch_size": 4, "learning_rate": 3e-3, "max_steps": 12},
                "run": {
                    "output_dir": str(tmp_path / output),
                    "eval_every_steps": None,
                    "log_every_steps": 2,
                    "checkpoint_every_minutes": None,
                    "progress": "log",
                },
            }
        )
        return config.with_overrides({k.replace("__", "."): v for k, v in overrides.items()})

    return build
