"""Reader throughput: single-question latency versus batched throughput on XQuAD-en questions.

    python bench/engine_throughput.py [--model DIR] [--backend onnx] [-n 200] [--json out.json]

Without --model a tiny random model is built in a temporary directory (numbers then measure the
engine's overhead, not a real model). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("/work/shared/data/xquad/xquad.en.json")


def load_squad_pairs(path: Path, count: int) -> tuple[list[str], list[str]]:
    """The first ``count`` (question, context) pairs of a SQuAD-format JSON file."""
    questions: list[str] = []
    contexts: list[str] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                contexts.append(paragraph["context"])
                if len(questions) == count:
                    return questions, contexts
    return questions, contexts


def measure(
    model_dir: Path, questions: list[str], contexts: list[str], args: Any
) -> dict[str, Any]:
    from qaflow.reader import ModelSpec, ReaderOptions, load_reader

    spec = ModelSpec(
        name="bench", model=str(model_dir), tokenizer=str(model_dir), backend=args.backend
    )
    cache = args.onnx_cache
    single = load_reader(
        spec, options=ReaderOptions(batch_size=1), threads=args.threads, onnx_cache_dir=cache
    )
    batched = load_reader(
        spec,
        options=ReaderOptions(batch_size=args.batch_size),
        threads=args.threads,
        onnx_cache_dir=cache,
    )
    single.answer(questions[:2], contexts[:2])
    batched.answer(questions[:2], contexts[:2])

    latencies_ms = []
    for question, context in zip(questions, contexts, strict=True):
        began = time.perf_counter()
        single.answer_one(question, context)
        latencies_ms.append((time.perf_counter() - began) * 1000)
    single_qps = len(questions) / (sum(latencies_ms) / 1000)

    began = time.perf_counter()
    batched.answer(questions, contexts)
    batch_qps = len(questions) / (time.perf_counter() - began)
    return {
        "model": str(model_dir),
        "backend": args.backend,
        "questions": len(questions),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "single_p50_ms": statistics.median(latencies_ms),
        "single_p90_ms": statistics.quantiles(latencies_ms, n=10)[-1],
        "single_questions_per_s": single_qps,
        "batch_questions_per_s": batch_qps,
        "batch_speedup": batch_qps / single_qps,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: tiny test model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD-format JSON")
    parser.add_argument("-n", "--questions", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument(
        "--onnx-cache", type=Path, default=None, help="ONNX export cache (default: temporary)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    questions, contexts = load_squad_pairs(args.data, args.questions)
    with tempfile.TemporaryDirectory() as scratch:
        args.onnx_cache = args.onnx_cache or Path(scratch) / "onnx"
        model_dir = args.model
        if model_dir is None:
            sys.path.insert(0, str(ROOT))
            from tests.support.tiny_model import build_tiny_qa_model

            model_dir = build_tiny_qa_model(Path(scratch) / "tiny")
        results = measure(model_dir, questions, contexts, args)
    print(f"model           {results['model'] if args.model else 'tiny test model (random)'}")
    print(f"backend         {results['backend']}")
    print(f"questions       {results['questions']}")
    print(
        f"single p50      {results['single_p50_ms']:.2f} ms  (p90 {results['single_p90_ms']:.2f})"
    )
    print(f"single          {results['single_questions_per_s']:.1f} questions/s")
    print(f"batch {args.batch_size:<9} {results['batch_questions_per_s']:.1f} questions/s")
    print(f"batch speedup   {results['batch_speedup']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
