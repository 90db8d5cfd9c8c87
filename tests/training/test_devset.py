import json
from collections.abc import Callable
from pathlib import Path

import pytest

from qaflow.evaluation import load_eval_examples
from qaflow.training import TrainingConfig
from qaflow.training.config import load_training_config
from qaflow.training.devset import main, split_dev
from qaflow.training.prepare import read_split
from qaflow.training.soup import dev_scorer

MakeConfig = Callable[..., TrainingConfig]


def test_select_is_what_runs_are_scored_on_and_confirm_is_the_rest(
    make_config: MakeConfig,
) -> None:
    config = make_config(run__final_eval_max_examples=2)
    select, confirm = split_dev(config)
    _, dev = read_split(config)
    assert len(select) == 2
    assert {r.id for r in select}.isdisjoint(r.id for r in confirm)
    assert sorted(r.id for r in select + confirm) == sorted(r.id for r in dev)


def test_the_files_load_as_evaluation_data(tmp_path: Path, data_dir: Path, tiny_base: Path) -> None:
    path = _write_config(tmp_path, tiny_base, data_dir, final_eval_max_examples=2)
    config = load_training_config(path)
    assert main([str(path), str(tmp_path / "dev")]) == 0

    select, confirm = split_dev(config)
    for name, records in (("select.json", select), ("confirm.json", confirm)):
        examples = load_eval_examples(tmp_path / "dev" / name)
        assert [(e.id, e.question, e.context, e.answers) for e in examples] == [
            (r.id, r.question, r.context, list(r.answers)) for r in records
        ]
        squad = json.loads((tmp_path / "dev" / name).read_text("utf-8"))
        for paragraph in squad["data"][0]["paragraphs"]:
            for qa in paragraph["qas"]:
                for answer in qa["answers"]:
                    start = answer["answer_start"]
                    assert paragraph["context"][start:].startswith(answer["text"])


def test_select_holds_the_greedy_soups_questions(
    tmp_path: Path, data_dir: Path, tiny_base: Path
) -> None:
    path = _write_config(tmp_path, tiny_base, data_dir, final_eval_max_examples=3)
    scored = dev_scorer(path, None, 1)(tiny_base)
    assert scored["count"] == len(split_dev(load_training_config(path))[0]) == 3


def test_a_missing_config_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.toml"), str(tmp_path / "dev")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "dev").exists()


def _write_config(
    tmp_path: Path, tiny_base: Path, data_dir: Path, *, final_eval_max_examples: int
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[model]\nbase = "{tiny_base}"\n'
        f'[data]\ndir = "{data_dir}"\ntrain_files = ["people.jsonl.gz"]\ndev_fraction = 0.5\n'
        "[preprocessing]\nmax_seq_len = 64\ndoc_stride = 16\nmax_question_len = 24\n"
        f"[run]\nfinal_eval_max_examples = {final_eval_max_examples}\n",
        encoding="utf-8",
    )
    return path
