"""SQuAD v1.1 answer metrics: the official normalization, exact match and token F1.

Per-example scores are in [0, 1] like the official script; :func:`squad_scores` aggregates them
to the 0-100 figures that papers and model cards report.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qaflow.errors import InvalidInputError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop the articles a/an/the, fold white space."""
    lowered = text.lower()
    without_punctuation = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    without_articles = _ARTICLES.sub(" ", without_punctuation)
    return " ".join(without_articles.split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals any normalized reference, else 0.0."""
    _require_references(references)
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(ref) for ref in references))


def f1(prediction: str, references: Sequence[str]) -> float:
    """Token-level F1 in [0, 1], the best over the references."""
    _require_references(references)
    prediction_tokens = normalize_answer(prediction).split()
    return max(_token_f1(prediction_tokens, normalize_answer(ref).split()) for ref in references)


def _token_f1(prediction_tokens: list[str], reference_tokens: list[str]) -> float:
    # The v1.1 script scores two empty token lists 0; v2.0 scores them 1. Both-empty only
    # happens when a reference normalizes to nothing (e.g. "the"), and then a match is right.
    if not prediction_tokens or not reference_tokens:
        return float(prediction_tokens == reference_tokens)
    common = Counter(prediction_tokens) & Counter(reference_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_tokens)
    recall = overlap / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def _require_references(references: Sequence[str]) -> None:
    if isinstance(references, str) or not references:
        raise InvalidInputError("references must be a non-empty sequence of answer strings")


@dataclass(frozen=True)
class SquadScores:
    """Aggregate scores over ``count`` examples; ``exact_match`` and ``f1`` are in 0-100."""

    exact_match: float
    f1: float
    count: int


def squad_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> SquadScores:
    """Mean exact match and F1 (0-100) of predictions against their reference lists."""
    if len(predictions) != len(references):
        raise InvalidInputError(
            f"{len(predictions)} predictions but {len(references)} reference lists"
        )
    if not predictions:
        return SquadScores(exact_match=0.0, f1=0.0, count=0)
    em_total = sum(exact_match(p, r) for p, r in zip(predictions, references, strict=True))
    f1_total = sum(f1(p, r) for p, r in zip(predictions, references, strict=True))
    count = len(predictions)
    return SquadScores(
        exact_match=100.0 * em_total / count, f1=100.0 * f1_total / count, count=count
    )
