"""The span decoder on hand-made logits: rules, ranking, windows, impossible answers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from qaflow.reader.decoding import SpanRules, Window, decode_answers

CONTEXT = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
WORDS = [(m.start(), m.end()) for m in re.finditer(r"\S+", CONTEXT)]
QUESTION_TOKENS = 3  # CLS + two question tokens, then SEP


def make_window(
    first_word: int,
    last_word: int,
    start_peaks: dict[int, float] | None = None,
    end_peaks: dict[int, float] | None = None,
    *,
    cls_logit: float = 0.0,
) -> Window:
    """A window over WORDS[first_word:last_word] laid out as [CLS] q q [SEP] words... [SEP].

    Peaks are keyed by word index in the context, so the same word scores alike in every window.
    """
    words = WORDS[first_word:last_word]
    length = QUESTION_TOKENS + 1 + len(words) + 1
    offsets = np.zeros((length, 2), dtype=np.int64)
    mask = np.zeros(length, dtype=np.bool_)
    start = np.zeros(length, dtype=np.float32)
    end = np.zeros(length, dtype=np.float32)
    start[0] = end[0] = cls_logit
    # Question tokens get the largest logits of all: the decoder must never pick them.
    start[1:QUESTION_TOKENS] = end[1:QUESTION_TOKENS] = 50.0
    for position, word in enumerate(range(first_word, last_word), start=QUESTION_TOKENS + 1):
        offsets[position] = WORDS[word]
        mask[position] = True
        start[position] = (start_peaks or {}).get(word, 0.0)
        end[position] = (end_peaks or {}).get(word, 0.0)
    return Window(start, end, offsets, mask, cls_index=0)


def test_picks_the_peaked_span_and_maps_it_to_characters() -> None:
    window = make_window(0, len(WORDS), {2: 8.0}, {4: 8.0})
    [answer] = decode_answers([window], CONTEXT, SpanRules())
    assert answer.text == "gamma delta epsilon"
    assert CONTEXT[answer.start : answer.end] == answer.text


def test_score_is_product_of_softmaxes_over_context_tokens() -> None:
    window = make_window(0, 4, {1: 2.0}, {1: 1.0})
    [answer] = decode_answers([window], CONTEXT, SpanRules())
    start_p = np.exp([0.0, 2.0, 0.0, 0.0]) / np.exp([0.0, 2.0, 0.0, 0.0]).sum()
    end_p = np.exp([0.0, 1.0, 0.0, 0.0]) / np.exp([0.0, 1.0, 0.0, 0.0]).sum()
    assert answer.text == "beta"
    assert answer.score == pytest.approx(start_p[1] * end_p[1], rel=1e-6)


def test_respects_max_answer_len() -> None:
    window = make_window(0, len(WORDS), {1: 9.0}, {9: 9.0})
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=20, max_answer_len=3))
    for answer in answers:
        assert len(answer.text.split()) <= 3
    assert answers[0].text.startswith("beta") or answers[0].text.endswith("kappa")


def test_end_never_precedes_start() -> None:
    window = make_window(0, len(WORDS), {6: 9.0}, {2: 9.0})
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=30))
    assert all(answer.end > answer.start for answer in answers)


def test_top_k_distinct_and_sorted() -> None:
    window = make_window(0, len(WORDS), {2: 3.0, 5: 2.0}, {3: 3.0, 6: 2.5})
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=5))
    assert len(answers) == 5
    assert len({(a.start, a.end) for a in answers}) == 5
    scores = [answer.score for answer in answers]
    assert scores == sorted(scores, reverse=True)


def test_top_k_beyond_all_spans_returns_every_span() -> None:
    window = make_window(0, 3)  # three words: 3 + 2 + 1 spans
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=50))
    assert len(answers) == 6


def test_best_span_can_come_from_a_later_window() -> None:
    windows = [
        make_window(0, 6, {1: 1.0}, {2: 1.0}),
        make_window(4, 9, {7: 9.0}, {8: 9.0}),
        make_window(8, len(WORDS)),
    ]
    answers = decode_answers(windows, CONTEXT, SpanRules(top_k=2))
    assert answers[0].text == "theta iota"
    assert answers[0].start == CONTEXT.index("theta")


def test_span_seen_in_overlapping_windows_is_returned_once() -> None:
    windows = [make_window(0, 7, {4: 5.0}, {5: 5.0}), make_window(3, 10, {4: 5.0}, {5: 5.0})]
    answers = decode_answers(windows, CONTEXT, SpanRules(top_k=10))
    spans = [(answer.start, answer.end) for answer in answers]
    assert len(spans) == len(set(spans))
    assert answers[0].text == "epsilon zeta"


def test_tokens_sharing_characters_still_give_k_distinct_spans() -> None:
    window = make_window(0, 6, {2: 5.0}, {2: 5.0})
    # Byte-level tokenizers map several tokens onto one character range; fake that here.
    offsets = window.offsets.copy()
    offsets[QUESTION_TOKENS + 2] = offsets[QUESTION_TOKENS + 3]
    window = Window(window.start_logits, window.end_logits, offsets, window.context_mask)
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=4))
    assert len({(a.start, a.end) for a in answers}) == 4


def test_impossible_answer_wins_when_cls_dominates() -> None:
    window = make_window(0, 6, {1: 1.0}, {1: 1.0}, cls_logit=10.0)
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=3, handle_impossible=True))
    assert (answers[0].text, answers[0].start, answers[0].end) == ("", 0, 0)
    assert answers[1].text == "beta"


def test_impossible_answer_ranks_below_a_confident_span() -> None:
    window = make_window(0, 6, {1: 9.0}, {1: 9.0}, cls_logit=1.0)
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=1, handle_impossible=True))
    assert answers[0].text == "beta"


def test_cls_ignored_without_handle_impossible() -> None:
    window = make_window(0, 6, cls_logit=30.0)
    answers = decode_answers([window], CONTEXT, SpanRules(top_k=30))
    assert all(answer.text for answer in answers)


def test_null_score_is_the_lowest_over_windows() -> None:
    windows = [make_window(0, 6, cls_logit=10.0), make_window(4, 12, cls_logit=0.0)]
    answers = decode_answers(windows, CONTEXT, SpanRules(top_k=100, handle_impossible=True))
    [null] = [answer for answer in answers if answer.text == ""]
    second_window_null = (1 / 9) ** 2  # CLS plus eight equal context tokens
    assert null.score == pytest.approx(second_window_null, rel=1e-6)


def test_window_without_context_tokens_yields_no_answer() -> None:
    window = make_window(0, 0)
    [answer] = decode_answers([window], CONTEXT, SpanRules())
    assert (answer.text, answer.start, answer.end) == ("", 0, 0)
