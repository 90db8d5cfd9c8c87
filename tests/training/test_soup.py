"""Averaging fine-tuned models: the mean of the weights, loadable as a model, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from qaflow.errors import ConfigurationError, NotFoundError
from qaflow.reader import ModelSpec, load_reader
from qaflow.training.soup import average_models, main
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
