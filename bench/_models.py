"""Bench models and data: a realistic-size MiniLM-L6 QA model built offline, XQuAD loading.

The default bench model is the bundled all-MiniLM-L6-v2 encoder (the size of qaflow's own model)
with a QA head. ``head="random"`` leaves the head random: speed is realistic but the logits are
near-flat, so answers tie and flip under tiny numeric changes. ``head="fitted"`` (the default)
fits the linear head by logistic regression on frozen encoder states of a few hundred SQuAD train
questions: a weak reader (F1 ~10-20), but one with peaked, meaningful logits, which is what
agreement between backends needs. Built models are kept under bench/.models/.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
MODELS_DIR = BENCH_DIR / ".models"
DEFAULT_XQUAD = Path("/work/shared/data/xquad/xquad.en.json")
DEFAULT_SQUAD_TRAIN = Path("/work/shared/data/qa-train/squad_v1.1_train.jsonl.gz")
FIT_SEQ_LEN = 256


def load_xquad(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """SQuAD-format JSON as rows: id, question, context, answers (list of texts)."""
    rows: list[dict[str, Any]] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows.append(
                    {
                        "id": qa["id"],
                        "question": qa["question"],
                        "context": paragraph["context"],
                        "answers": [answer["text"] for answer in qa["answers"]],
                    }
                )
    return rows[:limit] if limit else rows


def bench_model(head: str = "fitted", fit_examples: int = 600, seed: int = 0) -> Path:
    """The default bench model directory, built on first use."""
    name = f"minilm-l6-qa-{head}" + (f"-{fit_examples}" if head == "fitted" else "") + f"-s{seed}"
    directory = MODELS_DIR / name
    if (directory / "config.json").is_file():
        return directory
    partial = MODELS_DIR / f".partial-{name}"
    shutil.rmtree(partial, ignore_errors=True)
    build_minilm_qa(partial, head=head, fit_examples=fit_examples, seed=seed)
    partial.rename(directory)
    return directory


def build_minilm_qa(directory: Path, *, head: str, fit_examples: int, seed: int) -> Path:
    import torch
    from transformers import AutoTokenizer, BertForQuestionAnswering

    sys.path.insert(0, str(ROOT))
    from tests.support.tiny_model import TOKENIZER_FILES, bundled_tokenizer_dir

    source = bundled_tokenizer_dir()
    torch.manual_seed(seed)
    model = BertForQuestionAnswering.from_pretrained(source, dtype=torch.float32).eval()
    if head == "fitted":
        tokenizer = AutoTokenizer.from_pretrained(source)
        weight, bias = fit_linear_head(model, tokenizer, fit_examples, seed)
        with torch.no_grad():
            model.qa_outputs.weight.copy_(weight)
            model.qa_outputs.bias.copy_(bias)
    elif head != "random":
        raise ValueError(f"head must be 'random' or 'fitted', not {head!r}")
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, directory / name)
    return directory


def fit_linear_head(model: Any, tokenizer: Any, count: int, seed: int) -> tuple[Any, Any]:
    """Start/end logistic regression over tokens on frozen encoder states."""
    import torch

    states, masks, starts, ends = _encode_training_windows(model, tokenizer, count)
    torch.manual_seed(seed)
    linear = torch.nn.Linear(states.shape[-1], 2)
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(300):
        optimizer.zero_grad()
        logits = linear(states).masked_fill(~masks[..., None], -1e4)
        loss = torch.nn.functional.cross_entropy(
            logits[..., 0], starts
        ) + torch.nn.functional.cross_entropy(logits[..., 1], ends)
        loss.backward()
        optimizer.step()
    print(f"[bench] fitted QA head on {len(starts)} SQuAD train questions, loss {loss.item():.3f}")
    return linear.weight.detach(), linear.bias.detach()


def _encode_training_windows(model: Any, tokenizer: Any, count: int) -> tuple[Any, ...]:
    import torch

    questions, contexts, answer_spans = [], [], []
    with gzip.open(DEFAULT_SQUAD_TRAIN, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            answer = row["answers"][0]
            questions.append(row["question"])
            contexts.append(row["context"])
            answer_spans.append(
                (answer["answer_start"], answer["answer_start"] + len(answer["text"]))
            )
            if len(questions) == count * 2:  # some do not fit one window
                break
    encoded = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=FIT_SEQ_LEN,
        padding="max_length",
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    keep, starts, ends = [], [], []
    for row, (first, last) in enumerate(answer_spans):
        sequence = encoded.sequence_ids(row)
        offsets = encoded["offset_mapping"][row].tolist()
        tokens = [i for i, s in enumerate(sequence) if s == 1]
        start = next((i for i in tokens if offsets[i][0] <= first < offsets[i][1]), None)
        end = next((i for i in tokens if offsets[i][0] < last <= offsets[i][1]), None)
        if start is not None and end is not None and len(keep) < count:
            keep.append(row)
            starts.append(start)
            ends.append(end)
    index = torch.tensor(keep)
    with torch.inference_mode():
        states = torch.cat(
            [
                model.bert(
                    input_ids=encoded["input_ids"][index[i : i + 32]],
                    attention_mask=encoded["attention_mask"][index[i : i + 32]],
                    token_type_ids=encoded["token_type_ids"][index[i : i + 32]],
                ).last_hidden_state
                for i in range(0, len(keep), 32)
            ]
        )
    sequence_mask = torch.tensor(
        [[s == 1 for s in encoded.sequence_ids(row)] for row in keep], dtype=torch.bool
    )
    return states.clone(), sequence_mask, torch.tensor(starts), torch.tensor(ends)
