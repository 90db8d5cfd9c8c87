import json
from collections.abc import Callable

import pytest
import torch
from safetensors.torch import load_file

from qaflow.errors import ConfigurationError
from qaflow.reader import ModelSpec, load_reader
from qaflow.training import TrainingConfig, TrainOptions, train
from qaflow.training.checkpoint import list_checkpoints, read_state

MakeConfig = Callable[..., TrainingConfig]


def test_overfits_a_few_examples_and_writes_a_loadable_model(make_config: MakeConfig) -> None:
    config = make_config(data__max_train_examples=8, optimization__max_steps=30)
    outcome = train(config, TrainOptions(threads=1))
    assert outcome.finished
    assert outcome.model_dir is not None
    metrics = json.loads((outcome.model_dir / "metrics.json").read_text("utf-8"))
    losses = [entry["loss"] for entry in metrics["losses"]]
    assert losses[-1] < 0.5 * losses[0]
    assert metrics["global_step"] == 30
    assert metrics["dev"]["count"] == 6
    assert set(metrics["dev"]["by_source"]) == {"people"}

    weights = load_file(str(outcome.model_dir / "model.safetensors"))
    assert {tensor.dtype for tensor in weights.values()} == {torch.float16}
    card = (outcome.model_dir / "README.md").read_text("utf-8")
    assert "tiny-test" in card
    assert "learning_rate = 0.003" in card
    assert "F1" in card

    spec = ModelSpec(name="t", model=str(outcome.model_dir), tokenizer=str(outcome.model_dir))
    answers = load_reader(spec).answer(["Where was Ada born?"], ["Ada was born in London."])
    assert answers[0][0].text


def test_resume_continues_exactly(make_config: MakeConfig) -> None:
    settings = {"run__eval_every_steps": 4, "run__eval_max_examples": 3}
    straight = make_config("straight", **settings)
    split = make_config("split", **settings)

    train(straight, TrainOptions(threads=1))
    first = train(split, TrainOptions(threads=1, stop_after_steps=5))
    assert not first.finished
    assert first.global_step == 5
    state = read_state(list_checkpoints(split.run.output_dir)[-1])
    assert (state.global_step, state.epoch, state.batch_in_epoch) == (5, 1, 2)
    second = train(split, TrainOptions(threads=1, resume=True))
    assert second.finished

    a = list_checkpoints(straight.run.output_dir)[-1]
    b = list_checkpoints(split.run.output_dir)[-1]
    assert a.name == b.name == "step-00000012"
    weights_a = load_file(str(a / "model" / "model.safetensors"))
    weights_b = load_file(str(b / "model" / "model.safetensors"))
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    opt_a = torch.load(a / "optimizer.pt", weights_only=True)["state"]
    opt_b = torch.load(b / "optimizer.pt", weights_only=True)["state"]
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)
    scores = [{k: v for k, v in e.items() if k != "seconds"} for e in read_state(a).evaluations]
    assert [e["step"] for e in scores] == [4, 8]
    assert scores == [
        {k: v for k, v in e.items() if k != "seconds"} for e in read_state(b).evaluations
    ]


def test_existing_run_needs_resume(make_config: MakeConfig) -> None:
    config = make_config(optimization__max_steps=2)
    train(config, TrainOptions(threads=1, stop_after_steps=1))
    with pytest.raises(ConfigurationError, match="--resume"):
        train(config, TrainOptions(threads=1))


def test_resume_with_other_settings_is_refused(make_config: MakeConfig) -> None:
    train(make_config(optimization__max_steps=4), TrainOptions(threads=1, stop_after_steps=1))
    changed = make_config(optimization__max_steps=4, optimization__learning_rate=1e-2)
    with pytest.raises(ConfigurationError, match="different training settings"):
        train(changed, TrainOptions(threads=1, resume=True))


def test_export_now_writes_the_model_of_the_last_checkpoint(make_config: MakeConfig) -> None:
    config = make_config()
    train(config, TrainOptions(threads=1, stop_after_steps=3))
    outcome = train(config, TrainOptions(threads=1, export_only=True))
    assert outcome.model_dir is not None
    metrics = json.loads((outcome.model_dir / "metrics.json").read_text("utf-8"))
    assert (metrics["global_step"], metrics["total_steps"]) == (3, 12)
    assert "exported early" in (outcome.model_dir / "README.md").read_text("utf-8")


def test_time_budget_ends_the_run_with_the_rate_annealed(make_config: MakeConfig) -> None:
    config = make_config(optimization__max_steps=1000, optimization__time_budget_minutes=1e-6)
    outcome = train(config, TrainOptions(threads=1))
    assert outcome.model_dir is not None
    assert outcome.global_step == 1
    metrics = json.loads((outcome.model_dir / "metrics.json").read_text("utf-8"))
    assert metrics["losses"][-1]["lr"] == 0.0
    assert "time budget" in (outcome.model_dir / "README.md").read_text("utf-8")
