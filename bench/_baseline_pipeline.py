"""The original's way: transformers 4.x ``pipeline("question-answering")`` called once per row.

Runs inside the baseline virtualenv (transformers<5), so it imports nothing from qaflow.

    python _baseline_pipeline.py MODEL_DIR ROWS.json [--threads N] [--max-answer-len 30]

ROWS.json is a list of {"question", "context"}; prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("rows")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-answer-len", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=4)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import torch
    import transformers
    from transformers import pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.rows, encoding="utf-8") as handle:
        rows = json.load(handle)
    began = time.perf_counter()
    answerer = pipeline("question-answering", model=args.model, tokenizer=args.model, device=-1)
    load_s = time.perf_counter() - began
    for row in rows[: args.warmup]:
        answerer(question=row["question"], context=row["context"])

    answers = []
    began = time.perf_counter()
    for row in rows:
        # Exactly what the original service did per CSV row / request.
        result = answerer(
            question=row["question"], context=row["context"], max_answer_len=args.max_answer_len
        )
        answers.append({"text": result["answer"], "start": result["start"], "end": result["end"]})
    seconds = time.perf_counter() - began
    json.dump(
        {
            "answers": answers,
            "seconds": seconds,
            "load_seconds": load_s,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
