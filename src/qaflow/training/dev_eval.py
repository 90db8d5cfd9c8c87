"""Scoring the model being trained on the dev split, through qaflow's own reader."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qaflow.evaluation import EvalExample, evaluate_reader
from qaflow.reader import ModelSpec, ReaderOptions, load_reader
from qaflow.training.config import TrainingConfig
from qaflow.training.data import QaRecord


def reader_options(config: TrainingConfig, batch_size: int) -> ReaderOptions:
    """Read with the windows the model was trained on."""
    pre = config.preprocessing
    return ReaderOptions(
        max_seq_len=pre.max_seq_len,
        doc_stride=pre.doc_stride,
        max_question_len=pre.max_question_len,
        batch_size=batch_size,
    )


def evaluate_model_dir(
    model_dir: Path,
    records: Sequence[QaRecord],
    config: TrainingConfig,
    *,
    threads: int | None,
    device: str = "cpu",
) -> dict[str, Any]:
    """EM/F1 (0-100) of the saved model over ``records``, overall and per source file.

    ``device`` runs the forward passes (``"cuda"`` where training runs on a GPU: scoring there
    takes seconds instead of the CPU's minutes); tokenization and decoding stay on the CPU.
    """
    batch_size = config.run.eval_batch_size
    spec = ModelSpec(name=config.model.name, model=str(model_dir), tokenizer=str(model_dir))
    options = reader_options(config, batch_size)
    reader = load_reader(spec, options=options, threads=threads, device=device)
    by_source: dict[str, list[EvalExample]] = defaultdict(list)
    for record in records:
        by_source[record.source].append(record.to_eval_example())
    results: dict[str, Any] = {"by_source": {}}
    em_total = f1_total = seconds = 0.0
    for source, examples in sorted(by_source.items()):
        report = evaluate_reader(reader, examples, batch_size=batch_size)
        results["by_source"][source] = {
            "exact_match": report.exact_match,
            "f1": report.f1,
            "count": report.count,
        }
        em_total += report.exact_match * report.count
        f1_total += report.f1 * report.count
        seconds += report.seconds
    count = len(records)
    results.update(
        exact_match=em_total / count if count else 0.0,
        f1=f1_total / count if count else 0.0,
        count=count,
        seconds=seconds,
    )
    return results


def evaluate_live_model(
    model: Any,
    tokenizer: Any,
    records: Sequence[QaRecord],
    config: TrainingConfig,
    scratch_dir: Path,
    *,
    threads: int | None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Save the in-training model to ``scratch_dir`` and score it there."""
    shutil.rmtree(scratch_dir, ignore_errors=True)
    model.save_pretrained(scratch_dir)
    tokenizer.save_pretrained(scratch_dir)
    try:
        return evaluate_model_dir(scratch_dir, records, config, threads=threads, device=device)
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
