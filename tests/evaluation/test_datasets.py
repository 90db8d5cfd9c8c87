import csv
import gzip
import json
from pathlib import Path

import pytest

from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.evaluation import EvalExample, load_eval_examples

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Super_Bowl_50",
            "paragraphs": [
                {
                    "context": "The Denver Broncos won Super Bowl 50 in Santa Clara.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Who won Super Bowl 50?",
                            "answers": [
                                {"text": "Denver Broncos", "answer_start": 4},
                                {"text": "The Denver Broncos", "answer_start": 0},
                            ],
                        },
                        {"id": "q2", "question": "Unanswerable?", "answers": []},
                        {
                            "id": "q3",
                            "question": "Where?",
                            "answers": [{"text": "Santa Clara", "answer_start": 40}],
                        },
                    ],
                }
            ],
        }
    ],
}


def test_squad_json(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    examples = load_eval_examples(path)
    assert examples == [
        EvalExample(
            id="q1",
            question="Who won Super Bowl 50?",
            context=SQUAD["data"][0]["paragraphs"][0]["context"],  # type: ignore[index]
            answers=["Denver Broncos", "The Denver Broncos"],
        ),
        EvalExample(
            id="q3",
            question="Where?",
            context=examples[0].context,
            answers=["Santa Clara"],
        ),
    ]


def test_limit_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "dev.json.gz"
    path.write_bytes(gzip.compress(json.dumps(SQUAD).encode()))
    assert [e.id for e in load_eval_examples(path, limit=1)] == ["q1"]


def test_the_heldout_xquad_file_loads() -> None:
    xquad = Path("/work/shared/data/xquad/xquad.en.json")
    if not xquad.is_file():
        pytest.skip("XQuAD not present on this machine")
    examples = load_eval_examples(xquad)
    assert len(examples) == 1190
    assert all(e.answers and e.question and e.context for e in examples)


def test_csv_with_one_or_several_answers(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "context", "answer"])
        writer.writerow(["Who won?", "The Broncos won, 24-10.", "Broncos"])
        writer.writerow(["Score?", "The Broncos won, 24-10.", '["24-10", "24\u201310"]'])
        writer.writerow(["Tag?", "Use [x] here.", "[x]"])
    examples = load_eval_examples(path)
    assert [e.id for e in examples] == ["row-1", "row-2", "row-3"]
    assert examples[0].answers == ["Broncos"]
    assert examples[1].answers == ["24-10", "24\u201310"]
    assert examples[2].answers == ["[x]"]  # not a JSON list of strings: taken verbatim


def test_csv_id_column_and_answers_alias(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text("id,question,context,answers\nA7,Q?,ctx,ctx\n", encoding="utf-8")
    assert load_eval_examples(path)[0].id == "A7"


def test_csv_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text("question,context\nQ?,ctx\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"lacks column\(s\) answer \(or answers\);"):
        load_eval_examples(path)


def test_csv_empty_answer(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text("question,context,answer\nQ?,ctx,\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="row 1"):
        load_eval_examples(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [("Q?,,a", "row 2 has an empty context"), ("  ,ctx a,a", "row 2 has an empty question")],
)
def test_csv_blank_question_or_context_names_the_row(
    tmp_path: Path, row: str, message: str
) -> None:
    path = tmp_path / "eval.csv"
    path.write_text(f"question,context,answer\nQ?,ctx a,a\n{row}\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_eval_examples(path)


def test_jsonl_training_format(tmp_path: Path) -> None:
    path = tmp_path / "dev.jsonl.gz"
    record = {
        "id": "x1",
        "title": "T",
        "context": "Paris is in France.",
        "question": "Where is Paris?",
        "answers": [{"text": "France", "answer_start": 12}],
    }
    path.write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
    assert load_eval_examples(path)[0].answers == ["France"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{not json", "not valid JSON"),
        ("list.json", "[1, 2]", "not SQuAD JSON"),
        ("noqas.json", '{"data": [{"paragraphs": [{"context": "c"}]}]}', "qas"),
        ("empty.json", '{"data": []}', "no answerable questions"),
        ("data.txt", "hello", "unsupported"),
        ("bad.jsonl", "{}\n", "answers"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_eval_examples(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("question,context,answer\nQ,caf\xe9,x\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="UTF-8"):
        load_eval_examples(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_eval_examples(tmp_path / "nope.json")
