from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from qaflow.errors import InvalidInputError
from qaflow.training.batching import collate, epoch_batches
from qaflow.training.data import QaRecord, read_records, seeded_subset, split_by_group
from qaflow.training.features import WindowSettings, build_features


def _record(context: str, answer: str, question: str = "What is it?") -> QaRecord:
    return QaRecord(
        id="r",
        source="s",
        group="g",
        question=question,
        context=context,
        answer_text=answer,
        answer_start=context.index(answer),
        answers=(answer,),
    )


def test_records_and_group_split(data_dir: Path) -> None:
    records = read_records([data_dir / "people.jsonl.gz"])
    assert len(records) == 18
    assert records[0].source == "people"
    train, dev = split_by_group(records, 0.34, seed=1)
    assert len(dev) == 6  # two of six articles, three questions each
    assert {r.group for r in train}.isdisjoint({r.group for r in dev})
    assert split_by_group(records, 0.34, seed=1) == (train, dev)


def _titled(source: str, group: str, number: int) -> QaRecord:
    context = f"{group} was founded in {1900 + number}."
    return QaRecord(
        id=f"{source}-{group}-{number}",
        source=source,
        group=group,
        question=f"When was {group} founded?",
        context=context,
        answer_text=str(1900 + number),
        answer_start=context.index(str(1900 + number)),
        answers=(str(1900 + number),),
    )


def test_adding_a_file_keeps_the_other_files_dev_split() -> None:
    squad = [_titled("squad", f"a{i:02d}", n) for i in range(30) for n in range(2)]
    alone_train, alone_dev = split_by_group(squad, 0.2, seed=7)
    # The second source shares every title of the first and has twenty of its own.
    shared = [_titled("shifts", f"a{i:02d}", 9) for i in range(30)]
    shifts = shared + [_titled("shifts", f"b{i:02d}", 9) for i in range(20)]
    train, dev = split_by_group(squad + shifts, 0.2, seed=7)

    assert [r for r in dev if r.source == "squad"] == alone_dev
    assert [r for r in train if r.source == "squad"] == alone_train
    assert {r.source for r in dev} == {"squad", "shifts"}  # the new file has dev articles too
    assert {r.group for r in train}.isdisjoint({r.group for r in dev})
    # A shared title goes wherever the first file put it, for both files.
    dev_titles = {r.group for r in alone_dev}
    assert {r.group for r in shared if r in dev} == dev_titles
    assert len(train) + len(dev) == len(squad) + len(shifts)


def test_subset_is_seeded_and_keeps_order(data_dir: Path) -> None:
    records = read_records([data_dir / "people.jsonl.gz"])
    subset = seeded_subset(records, 5, seed=3)
    assert subset == seeded_subset(records, 5, seed=3)
    assert subset == sorted(subset, key=records.index)
    assert len(subset) == 5


def test_a_wrong_answer_start_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "x", "title": "", "context": "abc", "question": "q", '
        '"answers": [{"text": "b", "answer_start": 0}]}\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match="answer_start"):
        read_records([path])


@pytest.fixture
def tokenizer(tiny_base: Path) -> object:
    return AutoTokenizer.from_pretrained(tiny_base)


def test_answer_token_span_covers_the_answer(tokenizer: object) -> None:
    records = [
        _record("Ada Lovelace was born in London in 1815.", "London"),
        _record("The Broncos won 24-10 in Santa Clara, California.", "Santa Clara, California"),
    ]
    settings = WindowSettings(
        max_seq_len=64, doc_stride=16, max_question_len=16, max_negative_windows=None
    )
    features = build_features(records, tokenizer, settings, seed=0)
    assert len(features) == 2
    for i, record in enumerate(records):
        span = features.input_ids[i][features.start_positions[i] : features.end_positions[i] + 1]
        decoded = tokenizer.decode(span)  # type: ignore[attr-defined]
        assert decoded.replace(" ", "") == record.answer_text.lower().replace(" ", "")
        assert features.token_type_ids[i][features.start_positions[i]] == 1


def test_long_context_windows_and_negative_cap(tokenizer: object) -> None:
    filler = " ".join(f"word{i}" for i in range(200))
    record = _record(f"{filler} The treasure is in Lisbon. {filler}", "Lisbon")
    uncapped = build_features(
        [record], tokenizer, WindowSettings(64, 16, 16, max_negative_windows=None), seed=0
    )
    assert len(uncapped) > 3
    assert 1 <= int((uncapped.start_positions > 0).sum()) < len(uncapped)
    assert max(len(ids) for ids in uncapped.input_ids) <= 64
    capped = build_features(
        [record], tokenizer, WindowSettings(64, 16, 16, max_negative_windows=1), seed=0
    )
    assert int((capped.start_positions == 0).sum()) == 1
    assert int((capped.start_positions > 0).sum()) == int((uncapped.start_positions > 0).sum())


def test_long_questions_are_cut_to_fit(tokenizer: object) -> None:
    question = "why " * 100 + "?"
    features = build_features(
        [_record("It is blue.", "blue", question)], tokenizer, WindowSettings(64, 16, 16, None), 0
    )
    assert features.start_positions[0] > 0


def test_batches_are_seeded_length_grouped_and_complete() -> None:
    lengths = np.random.default_rng(0).integers(10, 300, size=103)
    batches = epoch_batches(lengths, batch_size=8, group_batches=4, seed=5, epoch=0)
    again = epoch_batches(lengths, batch_size=8, group_batches=4, seed=5, epoch=0)
    other_epoch = epoch_batches(lengths, batch_size=8, group_batches=4, seed=5, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other_epoch, strict=False))
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    # Within a batch lengths are close: the spread is far below a random batch's.
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) > 1])
    assert spread < 0.5 * np.ptp(lengths)


def test_collate_pads_to_the_longest_window(tokenizer: object) -> None:
    records = [_record("Short one here.", "one"), _record("A somewhat longer context.", "longer")]
    features = build_features(records, tokenizer, WindowSettings(64, 16, 16, None), 0)
    batch = collate(features, np.array([0, 1]), pad_token_id=0)
    width = batch["input_ids"].shape[1]
    assert width % 8 == 0
    assert width >= max(len(ids) for ids in features.input_ids)
    assert batch["attention_mask"].sum().item() == sum(len(ids) for ids in features.input_ids)
    assert batch["start_positions"].tolist() == features.start_positions.tolist()
