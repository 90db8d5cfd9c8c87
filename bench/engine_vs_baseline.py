"""qaflow's batch engine versus the original per-row transformers 4.x pipeline, on XQuAD-en.

    python bench/engine_vs_baseline.py [--model DIR] [--limit N] [--json out.json]

Rows: (a) the original's way, ``pipeline("question-answering")`` called once per row, in its own
virtualenv (bench/.venv-baseline: transformers<5, torch 2.13; created on first run); (b) qaflow
torch, (c) qaflow onnx, (d) qaflow onnx-int8, each answering all questions in one
``Reader.answer`` call. Reported: questions/s, ratio to (a), EM/F1 (SQuAD v1.1) and the share of
answers identical to (a)'s. Without --model the bench MiniLM-L6 model is used (see _models.py).
ONNX export time is reported apart; it happens once per model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    baseline_python,
    load_average,
    machine,
    print_table,
    use_repo_sources,
    write_json,
)
from _models import DEFAULT_XQUAD, MODELS_DIR, bench_model, load_xquad

BACKENDS = ("torch", "onnx", "onnx-int8")


def run_baseline(model_dir: Path, rows: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    python = baseline_python()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump([{"question": r["question"], "context": r["context"]} for r in rows], handle)
    command = [str(python), str(Path(__file__).parent / "_baseline_pipeline.py")]
    command += [str(model_dir), handle.name, "--max-answer-len", str(args.max_answer_len)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    load_before = load_average()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    Path(handle.name).unlink()
    result: dict[str, Any] = json.loads(done.stdout)
    result["load_average"] = [load_before, load_average()]
    return result


def run_qaflow(
    model_dir: Path, backend: str, rows: list[dict[str, Any]], args: Any
) -> dict[str, Any]:
    from qaflow.reader import ModelSpec, ReaderOptions, build_onnx_model, load_reader

    spec = ModelSpec("bench", str(model_dir), str(model_dir), backend=backend)  # type: ignore[arg-type]
    cache_dir = MODELS_DIR / "onnx-cache"
    export_s = 0.0
    if backend != "torch":
        began = time.perf_counter()
        build_onnx_model(spec, int8=backend == "onnx-int8", cache_dir=cache_dir)
        export_s = time.perf_counter() - began
    options = ReaderOptions(batch_size=args.batch_size, max_answer_len=args.max_answer_len)
    reader = load_reader(spec, options=options, threads=args.threads, onnx_cache_dir=cache_dir)
    questions = [row["question"] for row in rows]
    contexts = [row["context"] for row in rows]
    reader.answer(questions[:8], contexts[:8])  # warm-up
    load_before = load_average()
    began = time.perf_counter()
    results = reader.answer(questions, contexts)
    seconds = time.perf_counter() - began
    return {
        "answers": [{"text": a[0].text, "start": a[0].start, "end": a[0].end} for a in results],
        "seconds": seconds,
        "export_seconds": export_s,
        "load_average": [load_before, load_average()],
    }


def score(rows: list[dict[str, Any]], answers: list[dict[str, Any]]) -> tuple[float, float]:
    from qaflow.evaluation.squad_metrics import exact_match, f1

    em = sum(exact_match(a["text"], r["answers"]) for a, r in zip(answers, rows, strict=True))
    f = sum(f1(a["text"], r["answers"]) for a, r in zip(answers, rows, strict=True))
    return 100 * em / len(rows), 100 * f / len(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="QA model directory (default: bench MiniLM)")
    parser.add_argument("--head", default="fitted", choices=["fitted", "random"])
    parser.add_argument("--data", type=Path, default=DEFAULT_XQUAD, help="SQuAD-format JSON")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-answer-len", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--reuse-baseline",
        type=Path,
        help="take (a) from an earlier --with-answers JSON of the same model and questions",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--with-answers", action="store_true", help="keep answers in the JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_repo_sources()
    rows = load_xquad(args.data, args.limit)
    model_dir = args.model or bench_model(args.head)
    runs: dict[str, dict[str, Any]] = {}
    if args.reuse_baseline:
        previous = json.loads(args.reuse_baseline.read_text(encoding="utf-8"))
        runs["pipeline-per-row"] = previous["runs"]["pipeline-per-row"]
        if len(runs["pipeline-per-row"]["answers"]) != len(rows):
            raise SystemExit("--reuse-baseline: that run answered a different number of questions")
    elif not args.skip_baseline:
        print(f"[bench] (a) transformers 4.x pipeline, one call per row: {len(rows)} questions")
        runs["pipeline-per-row"] = run_baseline(model_dir, rows, args)
    for backend in args.backends.split(","):
        print(f"[bench] qaflow {backend}: {len(rows)} questions in one call")
        runs[f"qaflow-{backend}"] = run_qaflow(model_dir, backend, rows, args)

    baseline = runs.get("pipeline-per-row")
    qaflow_torch = runs.get("qaflow-torch")
    table = []
    for name, run in runs.items():
        run["questions_per_s"] = len(rows) / run["seconds"]
        run["exact_match"], run["f1"] = score(rows, run["answers"])
        if baseline is not None:
            run["speedup_vs_pipeline"] = run["questions_per_s"] / baseline["questions_per_s"]
            same = sum(
                a["text"] == b["text"]
                for a, b in zip(run["answers"], baseline["answers"], strict=True)
            )
            run["same_answer_as_pipeline"] = same / len(rows)
        if qaflow_torch is not None:
            same = sum(
                a["text"] == b["text"]
                for a, b in zip(run["answers"], qaflow_torch["answers"], strict=True)
            )
            run["same_answer_as_qaflow_torch"] = same / len(rows)
        table.append(
            [
                name,
                run["questions_per_s"],
                run.get("speedup_vs_pipeline"),
                run["exact_match"],
                run["f1"],
                run.get("same_answer_as_pipeline"),
                run.get("same_answer_as_qaflow_torch"),
                run.get("export_seconds"),
                f"{run['load_average'][0][0]:.1f}->{run['load_average'][1][0]:.1f}",
            ]
        )
    print(f"\nmodel {model_dir}, {len(rows)} questions, batch size {args.batch_size}")
    print_table(
        ["run", "q/s", "x pipeline", "EM", "F1", "= pipeline", "= torch", "export s", "load avg"],
        table,
    )
    summary = {
        "model": str(model_dir),
        "questions": len(rows),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "max_answer_len": args.max_answer_len,
        "machine": machine(),
        "runs": {
            name: {k: v for k, v in run.items() if k != "answers" or args.with_answers}
            for name, run in runs.items()
        },
    }
    write_json(args.json, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
