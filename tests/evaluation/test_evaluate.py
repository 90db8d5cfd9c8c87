import json

import pytest

from qaflow.errors import InvalidInputError
from qaflow.evaluation import EvalExample, evaluate_reader
from qaflow.reader import Reader

CONTEXTS = [
    "The Denver Broncos defeated the Carolina Panthers 24-10 to win Super Bowl 50.",
    "Paris is the capital and most populous city of France, on the Seine.",
    "Water boils at 100 degrees Celsius at sea level.",
]
QUESTIONS = ["Who won Super Bowl 50?", "What is the capital of France?", "When does water boil?"]


def _examples(answers: list[list[str]]) -> list[EvalExample]:
    return [
        EvalExample(id=f"q{i}", question=q, context=c, answers=a)
        for i, (q, c, a) in enumerate(zip(QUESTIONS, CONTEXTS, answers, strict=True))
    ]


def _predictions(reader: Reader) -> list[str]:
    return [answers[0].text for answers in reader.answer(QUESTIONS, CONTEXTS)]


def test_scores_match_the_readers_answers(tiny_reader: Reader) -> None:
    predicted = _predictions(tiny_reader)
    # The first two examples take the reader's own answers as references, the last a
    # string it cannot have produced: EM must be exactly 2/3.
    examples = _examples([[predicted[0]], [predicted[1], "x"], ["zzqx unreachable"]])
    done: list[int] = []
    report = evaluate_reader(
        tiny_reader, examples, batch_size=2, progress=done.append, keep_predictions=True
    )
    assert report.count == 3
    assert done == [2, 1]
    assert report.exact_match == pytest.approx(200 / 3)
    assert report.f1 == pytest.approx(200 / 3)
    assert report.predictions is not None
    assert [p.prediction for p in report.predictions] == predicted
    assert [p.exact_match for p in report.predictions] == [1.0, 1.0, 0.0]
    assert report.questions_per_second > 0


def test_report_serializes_to_json(tiny_reader: Reader) -> None:
    report = evaluate_reader(tiny_reader, _examples([["a"], ["b"], ["c"]]), model="tiny")
    parsed = json.loads(report.to_json())
    assert parsed["count"] == 3
    assert parsed["model"] == "tiny"
    assert parsed["predictions"] is None


def test_batch_size_must_be_positive(tiny_reader: Reader) -> None:
    with pytest.raises(InvalidInputError):
        evaluate_reader(tiny_reader, _examples([["a"], ["b"], ["c"]]), batch_size=0)
