"""Pipeline throughput: one CSV end to end (upload -> answers in SQL) beside the bare engine.

    python bench/pipeline_throughput.py [--rows 10000] [--model DIR] [--workers 2]
        [--executors inproc local ray] [--shard-rows 500] [--json out.json]

The same rows (XQuAD-en questions and contexts, repeated to --rows) go through the engine alone
(``Reader.answer`` in chunks, all cores) and through a full pipeline pass per executor: upload,
plan, datums on the executor, output commit, egress into SQLite. The ratio says what the
pipeline's bookkeeping, storage and parallelism cost or gain against the engine. Start-up
(processes, Ray, model loads) is counted in the pipeline's time. Not a test: nothing asserted.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _common import machine, print_table, write_json  # noqa: E402
from _models import DEFAULT_XQUAD, load_xquad  # noqa: E402

ENGINE_CHUNK_ROWS = 256


def build_csv(rows: int, data: Path) -> tuple[bytes, list[str], list[str]]:
    pairs = load_xquad(data)
    questions = [pairs[n % len(pairs)]["question"] for n in range(rows)]
    contexts = [pairs[n % len(pairs)]["context"] for n in range(rows)]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "question", "context"])
    for number, (question, context) in enumerate(zip(questions, contexts, strict=True)):
        writer.writerow([number, question, context])
    return text.getvalue().encode(), questions, contexts


def engine_rate(
    model_dir: Path, backend: str, questions: list[str], contexts: list[str], scratch: Path
) -> float:
    """Rows per second of the bare reader, after a warm-up, in chunks as the pipeline sends them."""
    from qaflow.reader import ModelSpec, ReaderOptions, load_reader

    reader = load_reader(
        ModelSpec("bench", str(model_dir), str(model_dir), backend),  # type: ignore[arg-type]
        options=ReaderOptions(),
        onnx_cache_dir=scratch / "cache" / "onnx",
    )
    reader.answer(questions[:8], contexts[:8])
    began = time.perf_counter()
    for start in range(0, len(questions), ENGINE_CHUNK_ROWS):
        stop = start + ENGINE_CHUNK_ROWS
        reader.answer(questions[start:stop], contexts[start:stop])
    return len(questions) / (time.perf_counter() - began)


def pipeline_rate(
    executor: str, data: bytes, model_dir: Path, args: argparse.Namespace, scratch: Path
) -> dict[str, Any]:
    """One pass over a fresh database and store; rows per second from upload to SQL."""
    from sqlalchemy import func, select

    from qaflow.config import Settings
    from qaflow.db import AnswerRecord, UploadOrigin
    from qaflow.services.pipeline_worker import pipeline_worker
    from qaflow.services.runtime import open_runtime
    from qaflow.services.uploads import create_upload

    home = scratch / executor
    home.mkdir()
    # The engine run built the ONNX graph already: exporting is a one-off, not pipeline work.
    (home / "cache").symlink_to(scratch / "cache", target_is_directory=True)
    settings = Settings(
        home=home,
        default_model="bench",
        default_model_ref=str(model_dir),
        default_model_backend=args.backend,
        shard_rows=args.shard_rows,
    )
    kind = "ray" if executor == "ray" else "local"
    workers = 1 if executor == "inproc" else args.workers
    with open_runtime(settings) as runtime:
        began = time.perf_counter()
        with runtime.sessions() as session:
            create_upload(
                session=session,
                store=runtime.store,
                source=io.BytesIO(data),
                filename="bench.csv",
                origin=UploadOrigin.CLI,
            )
        with pipeline_worker(
            settings=settings,
            session_factory=runtime.sessions,
            store=runtime.store,
            executor=kind,  # type: ignore[arg-type]
            workers=workers,
        ) as worker:
            report = worker.run_once(force=True)
        seconds = time.perf_counter() - began
        with runtime.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(AnswerRecord))
    return {
        "executor": executor,
        "workers": workers,
        "seconds": seconds,
        "rows_in_sql": stored,
        "rows_per_s": (stored or 0) / seconds,
        "jobs": [job.state for job in report.jobs],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: tiny test model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_XQUAD, help="SQuAD-format JSON")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="workers of local and ray")
    parser.add_argument("--shard-rows", type=int, default=500)
    parser.add_argument(
        "--backend",
        default="onnx-int8",
        choices=["torch", "onnx", "onnx-int8"],
        help="runtime of the engine and the pipeline (default: the default model's)",
    )
    parser.add_argument(
        "--executors",
        nargs="+",
        default=["inproc", "local", "ray"],
        choices=["inproc", "local", "ray"],
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data, questions, contexts = build_csv(args.rows, args.data)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        model_dir = args.model
        if model_dir is None:
            sys.path.insert(0, str(ROOT))
            from tests.support.tiny_model import build_tiny_qa_model

            model_dir = build_tiny_qa_model(scratch / "tiny")
        engine = engine_rate(model_dir, args.backend, questions, contexts, scratch)
        runs = [pipeline_rate(name, data, model_dir, args, scratch) for name in args.executors]
    print(f"model    {args.model or 'tiny test model (random)'}  ({args.backend})")
    print(f"rows     {args.rows}  (shards of {args.shard_rows})")
    print(f"engine   {engine:.1f} rows/s (Reader.answer alone, all cores)\n")
    print_table(
        ["executor", "workers", "seconds", "rows in SQL", "rows/s", "x engine"],
        [
            [
                r["executor"],
                r["workers"],
                r["seconds"],
                r["rows_in_sql"],
                r["rows_per_s"],
                r["rows_per_s"] / engine,
            ]
            for r in runs
        ],
    )
    write_json(
        args.json,
        {
            "machine": machine(),
            "rows": args.rows,
            "backend": args.backend,
            "engine_rows_per_s": engine,
            "pipeline": runs,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
