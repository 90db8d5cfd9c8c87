"""Averaging fine-tuned models: the mean of the weights, loadable as a model, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from qaflow.errors import ConfigurationError, NotFoundError
from qaflow.reader import ModelSpec, load_reader
from qaflow.training.soup import average_models, greedy_soup, main
from tests.support.tiny_model import build_tiny_qa_model


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


def test_the_soup_is_the_mean_of_the_weights_and_answers(tmp_path: Path) -> None:
    one = build_tiny_qa_model(tmp_path / "one", seed=1)
    two = build_tiny_qa_model(tmp_path / "two", seed=2)
    soup = average_models([one, two], tmp_path / "soup")
    a, b, mean = weights(one), weights(two), weights(soup)
    assert mean.keys() == a.keys()
    for name, tensor in mean.items():
        assert tensor.dtype == torch.float16
        expected = (a[name].float() + b[name].float()) / 2
        assert torch.allclose(tensor.float(), expected, atol=1e-3, rtol=1e-3), name
    assert not torch.equal(a["qa_outputs.weight"], b["qa_outputs.weight"])
    reader = load_reader(ModelSpec("soup", str(soup), str(soup)))
    (answers,) = reader.answer(["Who wrote it?"], ["It was written by Ada in 1843."])
    assert answers[0].text in "It was written by Ada in 1843."
    assert (soup / "soup.json").read_text(encoding="utf-8").count(str(one)) == 1


def test_models_of_other_shapes_cannot_be_averaged(tmp_path: Path) -> None:
    small = build_tiny_qa_model(tmp_path / "small", hidden=32)
    wide = build_tiny_qa_model(tmp_path / "wide", hidden=48)
    with pytest.raises(ConfigurationError, match=r"is \(.*48.*\) in .*wide"):
        average_models([small, wide], tmp_path / "soup")
    deep = build_tiny_qa_model(tmp_path / "deep", layers=3)
    with pytest.raises(ConfigurationError, match="different weights"):
        average_models([small, deep], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_bad_arguments_say_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = build_tiny_qa_model(tmp_path / "one")
    with pytest.raises(ConfigurationError, match="at least two"):
        average_models([one], tmp_path / "soup")
    with pytest.raises(NotFoundError, match=r"no model\.safetensors"):
        average_models([one, tmp_path / "absent"], tmp_path / "soup")
    assert main([str(tmp_path / "soup"), str(one), str(tmp_path / "absent")]) == 2
    assert "no model.safetensors" in capsys.readouterr().err
    two = build_tiny_qa_model(tmp_path / "two", seed=2)
    before = (one / "model.safetensors").read_bytes()
    for soup in (average_models, lambda dirs, out: greedy_soup(dirs, out, lambda _: {"f1": 0.0})):
        with pytest.raises(ConfigurationError, match="not empty"):
            soup([one, two], one)
    assert (one / "model.safetensors").read_bytes() == before


def test_a_greedy_soup_keeps_only_the_models_that_help(tmp_path: Path) -> None:
    models = {n: build_tiny_qa_model(tmp_path / f"m{n}", seed=n) for n in (1, 2, 3)}
    target = (
        weights(models[1])["qa_outputs.weight"].float()
        + weights(models[2])["qa_outputs.weight"].float()
    ) / 2

    def closeness(directory: Path) -> dict[str, Any]:
        head = weights(directory)["qa_outputs.weight"].float()
        return {"f1": -float((head - target).norm())}

    outcome = greedy_soup(list(models.values()), tmp_path / "soup", closeness)

    assert sorted(outcome.ingredients) == sorted([models[1], models[2]])
    assert [trial["kept"] for trial in outcome.tried] == [True, True, False]
    head = weights(outcome.output_dir)["qa_outputs.weight"].float()
    assert torch.allclose(head, target, atol=1e-3)
    recorded = json.loads((outcome.output_dir / "metrics.json").read_text(encoding="utf-8"))
    assert sorted(recorded["soup"]) == sorted(str(models[n]) for n in (1, 2))
    assert recorded["dev"]["f1"] == pytest.approx(outcome.dev["f1"])
    singles = {item["model"]: item["f1"] for item in recorded["singles"]}
    assert singles == {str(path): pytest.approx(closeness(path)["f1"]) for path in models.values()}
    assert not (tmp_path / ".trial-soup").exists()


def test_the_greedy_soup_scores_on_the_configs_dev_split(
    tmp_path: Path, data_dir: Path, tiny_base: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[model]\nbase = "{tiny_base}"\n'
        f'[data]\ndir = "{data_dir}"\ntrain_files = ["people.jsonl.gz"]\ndev_fraction = 0.34\n'
        "[preprocessing]\nmax_seq_len = 64\ndoc_stride = 16\nmax_question_len = 24\n",
        encoding="utf-8",
    )
    one = build_tiny_qa_model(tmp_path / "one", seed=1)
    two = build_tiny_qa_model(tmp_path / "two", seed=2)
    out = tmp_path / "soup"
    assert main([str(out), str(one), str(two), "--greedy", str(config), "--threads", "1"]) == 0
    recorded = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert recorded["dev"]["count"] == 6  # two of the six one-article people, three questions each
    assert 0.0 <= recorded["dev"]["f1"] <= 100.0
    assert len(recorded["tried"]) == 2
    assert load_reader(ModelSpec("soup", str(out), str(out))).answer(["Who?"], ["Ada did."])


def test_the_soup_carries_the_first_models_config_and_tokenizer_files(tmp_path: Path) -> None:
    one = build_tiny_qa_model(tmp_path / "one", seed=1)
    two = build_tiny_qa_model(tmp_path / "two", seed=2)
    (one / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")  # a BPE tokenizer's
    (one / "spiece.model").write_bytes(b"sentencepiece")
    (one / "README.md").write_text("the first model's card\n", encoding="utf-8")
    soup = average_models([one, two], tmp_path / "soup")
    carried = {path.name for path in soup.iterdir()}
    expected = {path.name for path in one.iterdir() if path.name not in {"README.md"}}
    assert carried == expected | {"soup.json"}
    assert (soup / "merges.txt").read_bytes() == (one / "merges.txt").read_bytes()
