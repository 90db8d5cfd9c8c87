"""From the config's data files to tokenized training windows and dev records."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from qaflow.training.config import TrainingConfig
from qaflow.training.data import (
    QaRecord,
    read_id_list,
    read_records,
    seeded_subset,
    split_by_group,
)
from qaflow.training.features import TrainFeatures, WindowSettings, build_features

logger = logging.getLogger("qaflow.training")


@dataclass(frozen=True)
class PreparedData:
    train_records: list[QaRecord]
    dev_records: list[QaRecord]
    features: TrainFeatures
    counts: dict[str, dict[str, int]]


def read_split(config: TrainingConfig) -> tuple[list[QaRecord], list[QaRecord]]:
    """The config's records split (by article, seeded) into train and dev, nothing dropped."""
    data = config.data
    records = read_records([data.dir / name for name in data.train_files])
    return split_by_group(records, data.dev_fraction, config.optimization.seed)


def final_eval_records(config: TrainingConfig, dev: list[QaRecord]) -> list[QaRecord]:
    """The dev questions a finished run is scored on (a seeded subset when the run caps them)."""
    return seeded_subset(dev, config.run.final_eval_max_examples, config.optimization.seed)


def prepare_data(config: TrainingConfig, tokenizer: Any) -> PreparedData:
    """Read, split (by article), filter and tokenize; every random choice is seeded."""
    data = config.data
    seed = config.optimization.seed
    train, dev = read_split(config)
    if data.drop_ambiguous and data.ambiguous_ids_file:
        ambiguous = read_id_list(data.dir / data.ambiguous_ids_file)
        before = len(train)
        train = [r for r in train if r.id not in ambiguous]
        logger.info(
            "dropped %d training questions with an ambiguous answer_start", before - len(train)
        )
    train = seeded_subset(train, data.max_train_examples, seed)
    pre = config.preprocessing
    settings = WindowSettings(
        max_seq_len=pre.max_seq_len,
        doc_stride=pre.doc_stride,
        max_question_len=pre.max_question_len,
        max_negative_windows=pre.max_negative_windows,
    )
    features = build_features(train, tokenizer, settings, seed)
    counts = _counts(train, dev)
    logger.info(
        "%d train questions -> %d windows (%.1f%% hold the answer); %d dev questions",
        len(train),
        len(features),
        100 * features.answerable_share,
        len(dev),
    )
    return PreparedData(train_records=train, dev_records=dev, features=features, counts=counts)


def _counts(train: list[QaRecord], dev: list[QaRecord]) -> dict[str, dict[str, int]]:
    train_counts = Counter(r.source for r in train)
    dev_counts = Counter(r.source for r in dev)
    return {
        source: {"train": train_counts[source], "dev": dev_counts[source]}
        for source in sorted(set(train_counts) | set(dev_counts))
    }
