"""Scoring extractive QA readers: SQuAD v1.1 metrics, evaluation data, evaluation runs."""

from qaflow.evaluation.datasets import EvalExample, load_eval_examples
from qaflow.evaluation.evaluate import EvalPrediction, EvalReport, QuestionAnswerer, evaluate_reader
from qaflow.evaluation.squad_metrics import (
    SquadScores,
    exact_match,
    f1,
    normalize_answer,
    squad_scores,
)

__all__ = [
    "EvalExample",
    "EvalPrediction",
    "EvalReport",
    "QuestionAnswerer",
    "SquadScores",
    "evaluate_reader",
    "exact_match",
    "f1",
    "load_eval_examples",
    "normalize_answer",
    "squad_scores",
]
