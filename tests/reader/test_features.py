"""Tokenization into windows with the real MiniLM tokenizer."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from transformers import AutoTokenizer

from qaflow.reader import ReaderOptions
from qaflow.reader.features import encode_features, truncate_questions
from tests.support.tiny_model import bundled_tokenizer_dir


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(bundled_tokenizer_dir())


def long_context(words: int) -> str:
    return " ".join(f"word{index % 97} token{index}" for index in range(words // 2))


def test_long_question_is_cut_to_max_tokens_as_a_prefix(tokenizer: Any) -> None:
    question = " ".join(f"unbelievably{i} long question" for i in range(60))
    [cut] = truncate_questions(tokenizer, [question], 16)
    assert question.startswith(cut)
    assert 0 < len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= 16


def test_short_question_is_kept(tokenizer: Any) -> None:
    assert truncate_questions(tokenizer, ["Who?"], 16) == ["Who?"]


def test_long_context_is_covered_by_overlapping_windows(tokenizer: Any) -> None:
    context = long_context(3000)
    options = ReaderOptions(max_seq_len=128, doc_stride=32, max_question_len=32)
    features = encode_features(tokenizer, ["What is token42?"], [context], options)
    assert len(features) > 20
    assert all(len(feature) <= 128 for feature in features)
    assert {feature.example_index for feature in features} == {0}
    covered = [feature.offsets[feature.context_mask] for feature in features]
    assert covered[0][0][0] == 0
    assert covered[-1][-1][1] == len(context)
    for earlier, later in itertools.pairwise(covered):
        # The stride makes consecutive windows share tokens, so no span is cut in two.
        assert later[0][0] < earlier[-1][1]


def test_features_keep_example_order(tokenizer: Any) -> None:
    contexts = ["short one.", long_context(600), "another short one."]
    options = ReaderOptions(max_seq_len=64, doc_stride=16, max_question_len=16)
    features = encode_features(tokenizer, ["q1", "q2", "q3"], contexts, options)
    indices = [feature.example_index for feature in features]
    assert indices == sorted(indices)
    assert indices[0] == 0
    assert indices[-1] == 2
    assert indices.count(1) > 1
