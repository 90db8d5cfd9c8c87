"""The reader end to end on a tiny real model: offsets, windows, batching, order, validation."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from qaflow.errors import InvalidInputError
from qaflow.reader import Answer, ModelSpec, Reader, ReaderOptions, load_reader
from tests.support.threads import run_threads

UNICODE_CONTEXTS = [
    "Ångström and Müller met in Zürich; the café served crème brûlée to naïve visitors.",
    "The   capital\tof  France\n\n is   Paris,  and its mayor lives near the Seine.",
    "São Paulo — the largest city — hosts 12 million people (2021 estimate) and ÉCOLE ÉTÉ.",
    "Tokyo 東京 is Japan's capital; Straße and façade are spelled with ß and ç.",
]


def mixed_pairs(count: int, seed: int = 7) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    vocabulary = ["the", "river", "city", "north", "bank", "king", "war", "museum", "école", "café"]
    questions, contexts = [], []
    for index in range(count):
        words = rng.randint(3, 400)
        contexts.append(" ".join(rng.choice(vocabulary) for _ in range(words)) + f" {index}.")
        questions.append(f"Which {rng.choice(vocabulary)} was {rng.choice(vocabulary)} {index}?")
    return questions, contexts


def assert_maps_back(answers: list[Answer], context: str) -> None:
    for answer in answers:
        assert context[answer.start : answer.end] == answer.text
        assert answer.text == "" or answer.end > answer.start


def test_offsets_map_back_to_original_text(tiny_reader: Reader) -> None:
    questions = ["What was served?"] * len(UNICODE_CONTEXTS)
    results = tiny_reader.answer(questions, UNICODE_CONTEXTS, top_k=5)
    for answers, context in zip(results, UNICODE_CONTEXTS, strict=True):
        assert 1 <= len(answers) <= 5
        assert_maps_back(answers, context)


def test_long_context_yields_a_valid_span(tiny_spec: ModelSpec) -> None:
    reader = load_reader(
        tiny_spec, options=ReaderOptions(max_seq_len=128, doc_stride=32, max_question_len=32)
    )
    context = " ".join(f"word{index % 89}" for index in range(3000))
    answers = reader.answer_one("Which word comes last?", context, top_k=3)
    assert len(answers) == 3
    assert_maps_back(answers, context)
    assert all(len(answer.text.split()) <= reader.options.max_answer_len for answer in answers)


def test_answers_do_not_depend_on_batch_size(tiny_spec: ModelSpec) -> None:
    questions, contexts = mixed_pairs(20)
    results = {}
    for batch_size in (1, 7, 64):
        options = ReaderOptions(max_seq_len=128, doc_stride=32, batch_size=batch_size)
        reader = load_reader(tiny_spec, options=options)
        results[batch_size] = reader.answer(questions, contexts, top_k=3)
    for batch_size in (7, 64):
        for one, other in zip(results[1], results[batch_size], strict=True):
            assert [(a.text, a.start, a.end) for a in one] == [
                (a.text, a.start, a.end) for a in other
            ]
            assert [a.score for a in other] == pytest.approx([a.score for a in one], abs=1e-4)


def test_results_follow_input_order(tiny_reader: Reader) -> None:
    questions, contexts = mixed_pairs(8, seed=3)
    together = tiny_reader.answer(questions, contexts)
    alone = [tiny_reader.answer_one(q, c) for q, c in zip(questions, contexts, strict=True)]
    reversed_ = tiny_reader.answer(questions[::-1], contexts[::-1])
    assert [a[0].text for a in together] == [a[0].text for a in alone]
    assert [a[0].text for a in together] == [a[0].text for a in reversed_[::-1]]


def test_top_k_gives_distinct_spans_best_first(tiny_reader: Reader) -> None:
    context = UNICODE_CONTEXTS[1]
    answers = tiny_reader.answer_one("What is the capital?", context, top_k=4)
    assert len(answers) == 4
    assert len({(a.start, a.end) for a in answers}) == 4
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)
    assert tiny_reader.answer_one("What is the capital?", context)[0] == answers[0]


def test_answers_are_deterministic(tiny_reader: Reader) -> None:
    questions, contexts = mixed_pairs(4, seed=11)
    assert tiny_reader.answer(questions, contexts) == tiny_reader.answer(questions, contexts)


def test_impossible_answer_is_a_candidate(tiny_spec: ModelSpec) -> None:
    reader = load_reader(tiny_spec, options=ReaderOptions(handle_impossible=True))
    answers = reader.answer_one("Who?", "Nobody in particular was here.", top_k=30)
    empties = [answer for answer in answers if answer.text == ""]
    assert len(empties) == 1
    assert (empties[0].start, empties[0].end) == (0, 0)


def test_concurrent_calls_match_sequential(tiny_reader: Reader) -> None:
    questions, contexts = mixed_pairs(6, seed=5)
    expected = tiny_reader.answer(questions, contexts)
    results: list[list[list[Answer]]] = []
    threads = [
        threading.Thread(target=lambda: results.append(tiny_reader.answer(questions, contexts)))
        for _ in range(4)
    ]
    run_threads(threads, 120)
    assert results == [expected] * 4


def test_empty_batch_gives_empty_result(tiny_reader: Reader) -> None:
    assert tiny_reader.answer([], []) == []


@pytest.mark.parametrize(
    ("questions", "contexts", "message"),
    [
        (["a", "b"], ["c"], "2 questions but 1 contexts"),
        (["ok", "ok", "  "], ["c", "c", "c"], "question at index 2 is empty"),
        (["ok", "ok"], ["c", "\n\t "], "context at index 1 is empty"),
        (["", "ok"], ["", "c"], "question at index 0 is empty"),
    ],
)
def test_rejects_bad_input(
    tiny_reader: Reader, questions: list[str], contexts: list[str], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        tiny_reader.answer(questions, contexts)


def test_rejects_non_positive_top_k(tiny_reader: Reader) -> None:
    with pytest.raises(InvalidInputError, match="top_k"):
        tiny_reader.answer_one("q", "c", top_k=0)


def test_threads_setting_applies(tiny_model_dir: Path) -> None:
    import torch

    before = torch.get_num_threads()
    spec = ModelSpec("tiny", str(tiny_model_dir), str(tiny_model_dir))
    try:
        load_reader(spec, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
