"""Training records from qaflow's JSONL.gz files, and the seeded train/dev split by article."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.evaluation import EvalExample


@dataclass(frozen=True)
class QaRecord:
    """One training question; ``answer_*`` is the first reference, which is trained on."""

    id: str
    source: str
    group: str
    question: str
    context: str
    answer_text: str
    answer_start: int
    answers: tuple[str, ...]

    def to_eval_example(self) -> EvalExample:
        return EvalExample(
            id=self.id, question=self.question, context=self.context, answers=list(self.answers)
        )


def read_records(paths: Sequence[Path]) -> list[QaRecord]:
    """Read every record of the given files, in file order."""
    records: list[QaRecord] = []
    for path in paths:
        records.extend(_read_file(path))
    return records


def _read_file(path: Path) -> Iterable[QaRecord]:
    if not path.is_file():
        raise NotFoundError(f"training data not found: {path}")
    source = path.name.split(".jsonl")[0]
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield _parse(line, source, f"{path}:{number}")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read training data: {exc}") from exc


def _parse(line: str, source: str, where: str) -> QaRecord:
    try:
        raw = json.loads(line)
        answers = raw["answers"]
        first = answers[0]
        context = raw["context"]
        record = QaRecord(
            id=str(raw["id"]),
            source=source,
            group=raw.get("title") or _context_key(context),
            question=raw["question"],
            context=context,
            answer_text=first["text"],
            answer_start=int(first["answer_start"]),
            answers=tuple(a["text"] for a in answers),
        )
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where}: not a training record ({exc!r})") from exc
    end = record.answer_start + len(record.answer_text)
    if context[record.answer_start : end] != record.answer_text:
        raise InvalidInputError(f"{where}: answer_start does not point at the answer text")
    return record


def _context_key(context: str) -> str:
    # Sources without titles: questions about the same passage must land on the same side.
    return "ctx:" + hashlib.sha1(context.encode("utf-8")).hexdigest()[:16]


def read_id_list(path: Path) -> frozenset[str]:
    """Ids, one per line."""
    try:
        return frozenset(line.strip() for line in path.read_text("utf-8").splitlines() if line)
    except OSError as exc:
        raise NotFoundError(f"id list not readable: {path}: {exc}") from exc


def split_by_group(
    records: Sequence[QaRecord], dev_fraction: float, seed: int
) -> tuple[list[QaRecord], list[QaRecord]]:
    """Seeded (train, dev) split; all questions of one article (or passage) go to the same side.

    Sources take turns in file order, each picking its dev articles among the ones no earlier
    file has named, so adding a file to a recipe never moves an earlier file's split (runs with
    and without it are scored on the same questions of the files they share). Groups are keyed
    by title across files: an article the first file put in dev is dev for every file, so it
    cannot leak into training through another one.
    """
    decided: set[str] = set()
    dev_groups: set[str] = set()
    for source in dict.fromkeys(r.source for r in records):
        groups = sorted({r.group for r in records if r.source == source} - decided)
        dev_count = round(len(groups) * dev_fraction)
        order = np.random.default_rng(seed).permutation(len(groups))
        dev_groups.update(groups[i] for i in order[:dev_count])
        decided.update(groups)
    train = [r for r in records if r.group not in dev_groups]
    dev = [r for r in records if r.group in dev_groups]
    return train, dev


def seeded_subset(records: Sequence[QaRecord], limit: int | None, seed: int) -> list[QaRecord]:
    """At most ``limit`` records drawn without replacement, in their original order."""
    if limit is None or limit >= len(records):
        return list(records)
    chosen = np.sort(np.random.default_rng(seed).choice(len(records), size=limit, replace=False))
    return [records[i] for i in chosen]
