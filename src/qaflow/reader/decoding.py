"""Span decoding in numpy: the best answer spans of one example across all of its windows.

Scores follow Hugging Face's question-answering pipeline: per window, softmax over the context
tokens (plus CLS when impossible answers are allowed) for start and end, and a span scores
``p_start[s] * p_end[e]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qaflow.reader.backends.base import IdArray
from qaflow.reader.types import Answer, no_answer

FloatArray = npt.NDArray[np.floating]
BoolArray = npt.NDArray[np.bool_]
ProbArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Window:
    """The logits of one window and the token-to-character map of its context tokens."""

    start_logits: FloatArray
    end_logits: FloatArray
    offsets: IdArray  # (tokens, 2) character offsets into the context
    context_mask: BoolArray
    cls_index: int = 0


@dataclass(frozen=True, slots=True)
class SpanRules:
    """What counts as an answer span and how many to return."""

    top_k: int = 1
    max_answer_len: int = 30
    handle_impossible: bool = False


def decode_answers(windows: Sequence[Window], context: str, rules: SpanRules) -> list[Answer]:
    """The ``top_k`` best distinct character spans over all windows, best first.

    With ``handle_impossible`` the no-answer candidate (scored by CLS, the lowest over windows, as
    in SQuAD 2.0 practice) is ranked among the spans, so it comes first when it beats them all.
    """
    best: dict[tuple[int, int], float] = {}
    null_score: float | None = None
    for window in windows:
        start_p, end_p = window_probabilities(window, rules.handle_impossible)
        if rules.handle_impossible:
            window_null = float(start_p[window.cls_index] * end_p[window.cls_index])
            null_score = window_null if null_score is None else min(null_score, window_null)
        for span, score in top_window_spans(window, start_p, end_p, rules):
            if score > best.get(span, -1.0):
                best[span] = score
    answers = [
        Answer(context[start:end], score, start, end) for (start, end), score in best.items()
    ]
    if null_score is not None:
        answers.append(no_answer(null_score))
    if not answers:
        # Only a context the tokenizer drops entirely (e.g. control characters) gets here.
        return [no_answer(0.0)]
    answers.sort(key=lambda answer: (-answer.score, answer.start, answer.end))
    return answers[: rules.top_k]


def window_probabilities(window: Window, handle_impossible: bool) -> tuple[ProbArray, ProbArray]:
    """Softmax of start and end logits over the tokens an answer may use."""
    allowed = window.context_mask.copy()
    if handle_impossible:
        allowed[window.cls_index] = True
    return _masked_softmax(window.start_logits, allowed), _masked_softmax(
        window.end_logits, allowed
    )


def _masked_softmax(logits: FloatArray, allowed: BoolArray) -> ProbArray:
    values = np.where(allowed, logits.astype(np.float64), -np.inf)
    if not allowed.any():
        return np.zeros_like(values)
    exp = np.exp(values - values.max())
    probabilities: ProbArray = exp / exp.sum()
    return probabilities


def top_window_spans(
    window: Window, start_p: ProbArray, end_p: ProbArray, rules: SpanRules
) -> list[tuple[tuple[int, int], float]]:
    """Up to ``top_k`` distinct character spans of one window with their scores, best first."""
    scores = span_scores(start_p, end_p, window.context_mask, rules.max_answer_len)
    valid = int(np.count_nonzero(scores >= 0.0))
    wanted = min(rules.top_k, valid)
    while True:
        spans = _distinct_spans(scores, window.offsets, wanted, rules.top_k)
        # Several token spans can share one character span; widen the search until k are distinct.
        if len(spans) >= rules.top_k or wanted >= valid:
            return spans
        wanted = min(valid, wanted * 2)


def span_scores(
    start_p: ProbArray, end_p: ProbArray, context_mask: BoolArray, max_answer_len: int
) -> ProbArray:
    """A (tokens, max_answer_len) band: entry [s, d] scores the span s..s+d, -1 where invalid."""
    tokens = len(start_p)
    width = max(1, min(max_answer_len, tokens))
    ends = np.arange(tokens)[:, None] + np.arange(width)[None, :]
    in_range = ends < tokens
    clipped = np.minimum(ends, tokens - 1)
    valid = in_range & context_mask[:, None] & context_mask[clipped]
    band: ProbArray = np.where(valid, start_p[:, None] * end_p[clipped], -1.0)
    return band


def _distinct_spans(
    scores: ProbArray, offsets: IdArray, candidates: int, limit: int
) -> list[tuple[tuple[int, int], float]]:
    spans: list[tuple[tuple[int, int], float]] = []
    seen: set[tuple[int, int]] = set()
    for start, end, score in _best_token_spans(scores, candidates):
        span = (int(offsets[start, 0]), int(offsets[end, 1]))
        if span[1] <= span[0] or span in seen:
            continue
        seen.add(span)
        spans.append((span, score))
        if len(spans) == limit:
            break
    return spans


def _best_token_spans(scores: ProbArray, count: int) -> Iterator[tuple[int, int, float]]:
    if count <= 0:
        return
    flat = scores.ravel()
    top = np.argpartition(-flat, count - 1)[:count] if count < flat.size else np.arange(flat.size)
    # Ties broken by position so the order never depends on the partition's internals.
    ordered = top[np.lexsort((top, -flat[top]))]
    width = scores.shape[1]
    for index in ordered:
        if flat[index] < 0.0:
            return
        start, length = divmod(int(index), width)
        yield start, start + length, float(flat[index])
