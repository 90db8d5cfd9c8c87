"""``python -m qaflow.training.devset CONFIG OUT_DIR``: a config's dev split as SQuAD JSON files.

``select.json`` holds the dev questions a finished run, and the greedy soup, are scored on
(``run.final_eval_max_examples`` of them, seeded); ``confirm.json`` holds the rest of the dev
split, which no choice has seen. A model picked as the best of many on the first set is
flattered there (the winner's curse): score it and the incumbent on the second with
``qaflow eval`` before trusting the gain.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qaflow.errors import QaflowError
from qaflow.training.config import TrainingConfig, add_assignment_option, load_with_overrides
from qaflow.training.data import QaRecord
from qaflow.training.prepare import final_eval_records, read_split

SELECT_FILE = "select.json"
CONFIRM_FILE = "confirm.json"


def split_dev(config: TrainingConfig) -> tuple[list[QaRecord], list[QaRecord]]:
    """The dev questions runs are scored on, and the rest of the dev split."""
    _, dev = read_split(config)
    select = final_eval_records(config, dev)
    chosen = {record.id for record in select}
    return select, [record for record in dev if record.id not in chosen]


def to_squad(records: Sequence[QaRecord], title: str) -> dict[str, Any]:
    """SQuAD v1.1 JSON, one paragraph per context in first-seen order, every reference kept."""
    paragraphs: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        answers = [{"text": text, "answer_start": _start(record, text)} for text in record.answers]
        qas = paragraphs.setdefault(record.context, [])
        qas.append({"id": record.id, "question": record.question, "answers": answers})
    return {
        "version": "1.1",
        "data": [
            {
                "title": title,
                "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()],
            }
        ],
    }


def _start(record: QaRecord, text: str) -> int:
    if text == record.answer_text:
        return record.answer_start
    return max(record.context.find(text), 0)


def write_dev_files(config: TrainingConfig, out_dir: Path) -> tuple[int, int]:
    """Write ``select.json`` and ``confirm.json`` into ``out_dir``; their question counts."""
    select, confirm = split_dev(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in ((SELECT_FILE, select), (CONFIRM_FILE, confirm)):
        squad = to_squad(records, f"{config.model.name} dev ({name.removesuffix('.json')})")
        (out_dir / name).write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    return len(select), len(confirm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qaflow.training.devset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, help="TOML training config")
    parser.add_argument("out_dir", type=Path, help="where select.json and confirm.json go")
    parser.add_argument("--data-dir", type=Path, help="override data.dir")
    add_assignment_option(parser, "override a setting of the config (repeatable)")
    args = parser.parse_args(argv)
    try:
        config = load_with_overrides(
            args.config, data_dir=args.data_dir, assignments=args.assignments
        )
        selected, rest = write_dev_files(config, args.out_dir)
    except QaflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out_dir / SELECT_FILE}: {selected} questions (what runs are scored on)")
    print(f"{args.out_dir / CONFIRM_FILE}: {rest} questions (the rest of the dev split)")
    if not rest:
        print("run.final_eval_max_examples leaves no dev questions over to confirm on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
