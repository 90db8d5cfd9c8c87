"""Run a reader over evaluation examples and score it with the SQuAD v1.1 metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from qaflow.errors import InvalidInputError
from qaflow.evaluation.datasets import EvalExample
from qaflow.evaluation.squad_metrics import exact_match, f1


class _AnswerLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def score(self) -> float: ...


class QuestionAnswerer(Protocol):
    """What evaluation needs of a reader: :class:`qaflow.reader.Reader` satisfies it."""

    def answer(
        self, questions: Sequence[str], contexts: Sequence[str], *, top_k: int = 1
    ) -> Sequence[Sequence[_AnswerLike]]: ...


@dataclass(frozen=True)
class EvalPrediction:
    """The reader's best answer to one example and its scores (0 or 1 for EM, 0-1 for F1)."""

    id: str
    prediction: str
    score: float | None
    references: list[str]
    exact_match: float
    f1: float


@dataclass(frozen=True)
class EvalReport:
    """Exact match and F1 (0-100) over ``count`` examples, with throughput."""

    exact_match: float
    f1: float
    count: int
    seconds: float
    questions_per_second: float
    model: str | None = None
    data: str | None = None
    predictions: list[EvalPrediction] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def evaluate_reader(
    reader: QuestionAnswerer,
    examples: Sequence[EvalExample],
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    keep_predictions: bool = False,
    model: str | None = None,
    data: str | None = None,
) -> EvalReport:
    """Answer every example in batches and score the best answers.

    ``progress`` is called with the number of examples finished after each batch.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    scored: list[EvalPrediction] = []
    for offset in range(0, len(examples), batch_size):
        batch = examples[offset : offset + batch_size]
        answers = reader.answer([e.question for e in batch], [e.context for e in batch], top_k=1)
        scored.extend(_score(example, best) for example, best in zip(batch, answers, strict=True))
        if progress is not None:
            progress(len(batch))
    seconds = time.perf_counter() - started
    count = len(scored)
    return EvalReport(
        exact_match=100.0 * sum(p.exact_match for p in scored) / count if count else 0.0,
        f1=100.0 * sum(p.f1 for p in scored) / count if count else 0.0,
        count=count,
        seconds=seconds,
        questions_per_second=count / seconds if seconds > 0 else 0.0,
        model=model,
        data=data,
        predictions=scored if keep_predictions else None,
    )


def _score(example: EvalExample, answers: Sequence[_AnswerLike]) -> EvalPrediction:
    best = answers[0] if answers else None
    text = best.text if best is not None else ""
    return EvalPrediction(
        id=example.id,
        prediction=text,
        score=best.score if best is not None else None,
        references=list(example.answers),
        exact_match=exact_match(text, example.answers),
        f1=f1(text, example.answers),
    )
