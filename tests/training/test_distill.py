import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, BertTokenizerFast

from qaflow.errors import ConfigurationError
from qaflow.training import TrainingConfig, TrainOptions, train
from qaflow.training.batching import collate
from qaflow.training.distill import distillation_loss, load_teachers
from qaflow.training.prepare import prepare_data
from qaflow.training.runtime import pick_runtime
from tests.support.tiny_model import build_tiny_qa_model

MakeConfig = Callable[..., TrainingConfig]


def _logits(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_loss_is_zero_when_the_student_matches_the_teacher() -> None:
    start, end = _logits([1.0, 2.0, 0.5]), _logits([0.0, -1.0, 3.0])
    mask = torch.ones(1, 3, dtype=torch.long)
    loss = distillation_loss((start, end), (start.clone(), end.clone()), mask, 2.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_loss_is_the_temperature_scaled_kl_divergence() -> None:
    student = (_logits([0.0, 0.0]), _logits([0.0, 0.0]))
    teacher = (_logits([2.0, 0.0]), _logits([0.0, 0.0]))
    mask = torch.ones(1, 2, dtype=torch.long)
    # Start: teacher softmax([1, 0]) at T=2 against a uniform student; end: equal, so 0.
    p = 1 / (1 + math.exp(-1.0))
    kl_start = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    expected = (kl_start + 0.0) / 2 * 2.0**2
    loss = distillation_loss(student, teacher, mask, 2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_padding_takes_no_part() -> None:
    mask = torch.tensor([[1, 1, 0]])
    student = (_logits([0.5, 1.0, 0.0]), _logits([0.0, 1.0, 0.0]))
    teacher = (_logits([1.0, 0.0, 0.0]), _logits([1.0, 0.0, 0.0]))
    other_padding = (_logits([1.0, 0.0, 9.0]), _logits([1.0, 0.0, -9.0]))
    loss = distillation_loss(student, teacher, mask, 1.0)
    assert loss.item() > 0
    assert distillation_loss(student, other_padding, mask, 1.0).item() == pytest.approx(loss.item())


def _gap_to_teacher(student_dir: Path, teacher_dir: Path, config: TrainingConfig) -> float:
    """The distillation loss of ``student_dir`` against ``teacher_dir`` on all training windows."""
    tokenizer = AutoTokenizer.from_pretrained(str(student_dir))
    data = prepare_data(config, tokenizer)
    batch = collate(data.features, list(range(len(data.features))), tokenizer.pad_token_id)
    inputs = {k: v for k, v in batch.items() if k not in ("start_positions", "end_positions")}
    models = [
        AutoModelForQuestionAnswering.from_pretrained(str(d)).eval()
        for d in (student_dir, teacher_dir)
    ]
    with torch.no_grad():
        student, teacher = (m(**inputs) for m in models)
    return distillation_loss(
        (student.start_logits, student.end_logits),
        (teacher.start_logits, teacher.end_logits),
        batch["attention_mask"],
        1.0,
    ).item()


def test_student_moves_towards_its_teacher(make_config: MakeConfig, tmp_path: Path) -> None:
    teacher_run = train(make_config("teacher", optimization__max_steps=30), TrainOptions(threads=1))
    assert teacher_run.model_dir is not None
    teacher = teacher_run.model_dir
    base = build_tiny_qa_model(tmp_path / "student-base", seed=7, hidden=32, layers=2)

    def student(name: str, weight: float) -> Path:
        config = make_config(
            name,
            model__base=str(base),
            optimization__max_steps=30,
            distillation__teachers=[str(teacher)],
            distillation__weight=weight,
            distillation__temperature=1.0,
        )
        outcome = train(config, TrainOptions(threads=1))
        assert outcome.model_dir is not None
        return outcome.model_dir

    config = make_config()
    taught, gold_only = student("taught", 1.0), student("gold-only", 0.0)
    before = _gap_to_teacher(base, teacher, config)
    after = _gap_to_teacher(taught, teacher, config)
    # Learning the gold spans alone also brings a student nearer a teacher that learnt them:
    # the teacher's targets must bring it much nearer.
    assert after < 0.5 * _gap_to_teacher(gold_only, teacher, config) < 0.5 * before
    card = (taught / "README.md").read_text("utf-8")
    assert "Distilled from 1 teacher(s)" in card
    assert "[distillation]" in card


def _tiny_distilbert(directory: Path, tokenizer_dir: Path) -> Path:
    """A DistilBERT QA model (no token_type_ids input) over the same vocabulary."""
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = DistilBertConfig(
        vocab_size=len(tokenizer), dim=32, n_layers=1, n_heads=2, hidden_dim=64
    )
    torch.manual_seed(3)
    DistilBertForQuestionAnswering(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def test_a_teacher_of_another_architecture_over_the_same_vocabulary(
    make_config: MakeConfig, tiny_base: Path, tmp_path: Path
) -> None:
    # The case distillation is for: a bigger hub model (distilbert-base-uncased-distilled-squad
    # shares MiniLM's uncased vocabulary) teaching the small one.
    teacher = _tiny_distilbert(tmp_path / "distilbert", tiny_base)
    config = make_config(
        "student", optimization__max_steps=3, distillation__teachers=[str(teacher)]
    )
    outcome = train(config, TrainOptions(threads=1))
    assert outcome.finished


def test_a_teacher_with_another_vocabulary_is_refused(tiny_base: Path, tmp_path: Path) -> None:
    other = build_tiny_qa_model(tmp_path / "other", hidden=32, layers=2)
    (other / "tokenizer.json").unlink()
    (other / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n",
        encoding="utf-8",
    )
    BertTokenizerFast(vocab_file=str(other / "vocab.txt")).save_pretrained(str(other))
    student_tokenizer = AutoTokenizer.from_pretrained(str(tiny_base))
    with pytest.raises(ConfigurationError, match="another vocabulary"):
        load_teachers([str(other)], student_tokenizer, pick_runtime("fp32", 1))


def test_settings_are_checked(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigurationError, match=r"distillation\.weight"):
        make_config(distillation__weight=1.5)
    with pytest.raises(ConfigurationError, match=r"distillation\.temperature"):
        make_config(distillation__temperature=0)


def test_runs_without_teachers_keep_their_fingerprint() -> None:
    # The default config's fingerprint from before distillation existed: checkpoints written
    # then must still resume.
    assert TrainingConfig().fingerprint() == "af31b3c7d9207d98"
    distilled = TrainingConfig().with_overrides({"distillation.teachers": ["t"]})
    assert distilled.fingerprint() != TrainingConfig().fingerprint()
