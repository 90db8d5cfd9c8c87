"""Evaluation examples from SQuAD-format JSON, CSV, or qaflow's JSONL training format.

Formats, chosen by file suffix (a trailing ``.gz`` is decompressed):

- ``.json`` — SQuAD JSON (``data[].paragraphs[].qas[].answers[].text``). SQuAD v2.0 questions
  without answers are skipped: the v1.1 metrics cannot score them.
- ``.csv`` — a header with ``question``, ``context`` and ``answer`` (or ``answers``) columns and an
  optional ``id`` column. An answer cell holds one reference answer, or several as a JSON array of
  strings (``["Denver Broncos", "the Broncos"]``); any other cell is taken verbatim as one answer.
- ``.jsonl`` — one object a line with ``question``, ``context``, ``answers`` (strings or
  ``{"text": ...}`` objects) and optionally ``id``: the format of the training data.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qaflow.errors import InvalidInputError, NotFoundError


@dataclass(frozen=True)
class EvalExample:
    """One question about one context, with every reference answer."""

    id: str
    question: str
    context: str
    answers: list[str] = field(default_factory=list)


def load_eval_examples(path: Path | str, *, limit: int | None = None) -> list[EvalExample]:
    """Read evaluation examples from ``path`` (format by suffix), at most ``limit`` of them."""
    source = Path(path)
    if not source.is_file():
        raise NotFoundError(f"evaluation data not found: {source}")
    suffixes = [s.lower() for s in source.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    readers = {".json": _read_squad_json, ".csv": _read_csv, ".jsonl": _read_jsonl}
    if kind not in readers:
        raise InvalidInputError(
            f"{source}: unsupported evaluation file type {kind or '(none)'!r}; "
            "use SQuAD .json, .csv (question, context, answer) or .jsonl"
        )
    text = _read_text(source)
    examples: list[EvalExample] = []
    for example in readers[kind](text, source):
        if limit is not None and len(examples) >= limit:
            break
        examples.append(example)
    if not examples:
        raise InvalidInputError(f"{source}: no answerable questions found")
    return examples


def _read_text(source: Path) -> str:
    try:
        raw = source.read_bytes()
        if source.suffix.lower() == ".gz":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{source}: cannot read as UTF-8 text: {exc}") from exc


def _read_squad_json(text: str, source: Path) -> Iterator[EvalExample]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{source}: not valid JSON: {exc}") from exc
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list):
        raise InvalidInputError(f"{source}: not SQuAD JSON (expected an object with a 'data' list)")
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(_list_at(article, "paragraphs", source, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _string_at(paragraph, "context", source, where)
            for q, qa in enumerate(_list_at(paragraph, "qas", source, where)):
                qa_where = f"{where}.qas[{q}]"
                answers = [
                    _string_at(answer, "text", source, f"{qa_where}.answers[{i}]")
                    for i, answer in enumerate(_list_at(qa, "answers", source, qa_where))
                ]
                if not answers:
                    continue
                yield EvalExample(
                    id=str(qa.get("id", f"{a}-{p}-{q}")),
                    question=_string_at(qa, "question", source, qa_where),
                    context=context,
                    answers=answers,
                )


def _read_csv(text: str, source: Path) -> Iterator[EvalExample]:
    try:
        rows = csv.DictReader(io.StringIO(text, newline=""))
        columns = set(rows.fieldnames or [])
        answer_column = "answers" if "answers" in columns and "answer" not in columns else "answer"
        missing = sorted({"question", "context"} - columns)
        if not columns & {"answer", "answers"}:
            missing.append("answer (or answers)")
        if missing:
            raise InvalidInputError(
                f"{source}: CSV lacks column(s) {', '.join(missing)}; "
                f"found {', '.join(sorted(columns)) or 'none'}"
            )
        for number, row in enumerate(rows, start=1):
            answers = _parse_answer_cell(row.get(answer_column) or "")
            question, context = row.get("question") or "", row.get("context") or ""
            for name, value in (("question", question), ("context", context)):
                if not value.strip():
                    raise InvalidInputError(f"{source}: row {number} has an empty {name}")
            if not answers:
                raise InvalidInputError(f"{source}: row {number} has an empty answer")
            yield EvalExample(
                id=row.get("id") or f"row-{number}",
                question=question,
                context=context,
                answers=answers,
            )
    except csv.Error as exc:
        raise InvalidInputError(f"{source}: malformed CSV: {exc}") from exc


def _parse_answer_cell(cell: str) -> list[str]:
    stripped = cell.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and parsed and all(isinstance(x, str) for x in parsed):
            return [x for x in parsed if x.strip()]
    return [cell] if stripped else []


def _read_jsonl(text: str, source: Path) -> Iterator[EvalExample]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source}: line {number} is not JSON: {exc}") from exc
        where = f"line {number}"
        answers = [
            item if isinstance(item, str) else _string_at(item, "text", source, where)
            for item in _list_at(record, "answers", source, where)
        ]
        if not answers:
            continue
        yield EvalExample(
            id=str(record.get("id", f"line-{number}")),
            question=_string_at(record, "question", source, where),
            context=_string_at(record, "context", source, where),
            answers=answers,
        )


def _list_at(node: Any, key: str, source: Path, where: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, list):
        raise InvalidInputError(f"{source}: {where} has no '{key}' list")
    return value


def _string_at(node: Any, key: str, source: Path, where: str) -> str:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, str):
        raise InvalidInputError(f"{source}: {where} has no '{key}' string")
    return value
