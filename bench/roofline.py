"""How close the engine runs to the machine's matmul throughput, per backend.

    python bench/roofline.py [--model DIR] [--limit 200] [--json out.json]

FLOPs per question come from the model's shape (layers, hidden, intermediate, heads) and the
token counts actually run: the windows the reader cut, padded as the backend pads them (length-
sorted batches of --batch-size for torch; the ONNX backends run each window alone, unpadded).
Achieved FLOP/s = those FLOPs / measured time, as a fraction of dense GEMM throughput measured in
the same run: fp32 (torch.mm and numpy, 2048x2048) and int8 (torch._int_mm, ONNX Runtime
MatMulInteger). Matmul peaks are measured before and after the backends; the higher is used.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, machine, print_table, use_repo_sources, write_json
from _models import DEFAULT_XQUAD, MODELS_DIR, bench_model, load_xquad

GEMM_SIZE = 2048
BACKENDS = ("torch", "onnx", "onnx-int8")


def window_flops(length: int, shape: dict[str, int]) -> float:
    """Multiply-adds x2 of one encoder pass over ``length`` tokens (embeddings/softmax excluded)."""
    hidden, inter, layers = shape["hidden"], shape["intermediate"], shape["layers"]
    projections = 4 * 2 * length * hidden * hidden  # Q, K, V, output
    attention = 2 * 2 * length * length * hidden  # QK^T and PV over all heads
    ffn = 2 * 2 * length * hidden * inter
    head = 2 * length * hidden * 2
    return layers * (projections + attention + ffn) + head


def model_shape(model_dir: Path) -> dict[str, int]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    return {
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "intermediate": config.intermediate_size,
        "heads": config.num_attention_heads,
    }


def executed_flops(lengths: list[int], shape: dict[str, int], batch: int | None) -> float:
    """FLOPs as run: per window when unbatched, else length-sorted batches padded to their max."""
    if batch is None:
        return sum(window_flops(length, shape) for length in lengths)
    ordered = sorted(lengths)
    total = 0.0
    for first in range(0, len(ordered), batch):
        group = ordered[first : first + batch]
        total += len(group) * window_flops(max(group), shape)
    return total


def gemm_peaks(threads: int | None) -> dict[str, float]:
    """Best-of-N dense matmul throughput in GFLOP/s (GOP/s for int8)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    n = GEMM_SIZE
    flops = 2 * n**3
    a32 = torch.randn(n, n)
    peaks = {"torch_fp32": flops / _best(lambda: torch.mm(a32, a32)) / 1e9}
    an = a32.numpy()
    peaks["numpy_fp32"] = flops / _best(lambda: an @ an) / 1e9
    # torch's CPU _int_mm is a reference kernel (~1 GOP/s here): a small size keeps it short.
    small = 512
    a8 = torch.randint(-128, 127, (small, small), dtype=torch.int8)
    with contextlib.suppress(RuntimeError):  # builds without a CPU _int_mm kernel
        seconds = _best(lambda: torch._int_mm(a8, a8), repeats=1)
        peaks["torch_int8"] = 2 * small**3 / seconds / 1e9
    peaks["ort_int8"] = flops / _best(_ort_matmul_integer(n, threads)) / 1e9
    peaks["ort_fp32"] = flops / _best(_ort_matmul(n, threads)) / 1e9
    return peaks


def _best(run: Any, repeats: int = 3) -> float:
    run()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def _ort_session(node: Any, inputs: list[Any], output: Any, threads: int | None) -> Any:
    import onnx
    import onnxruntime as ort

    graph = onnx.helper.make_graph([node], "gemm", inputs, [output])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    return ort.InferenceSession(model.SerializeToString(), options)


def _ort_matmul_integer(n: int, threads: int | None) -> Any:
    """u8 x s8 -> i32, the kernel ONNX Runtime's dynamic int8 MatMuls run."""
    import numpy as np
    from onnx import TensorProto, helper

    node = helper.make_node("MatMulInteger", ["a", "b"], ["c"])
    inputs = [
        helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
        helper.make_tensor_value_info("b", TensorProto.INT8, [n, n]),
    ]
    output = helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])
    session = _ort_session(node, inputs, output, threads)
    rng = np.random.default_rng(0)
    feed = {
        "a": rng.integers(0, 255, (n, n), dtype=np.uint8),
        "b": rng.integers(-127, 127, (n, n), dtype=np.int8),
    }
    return lambda: session.run(None, feed)


def _ort_matmul(n: int, threads: int | None) -> Any:
    import numpy as np
    from onnx import TensorProto, helper

    node = helper.make_node("MatMul", ["a", "b"], ["c"])
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"]
    output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])
    session = _ort_session(node, inputs, output, threads)
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    return lambda: session.run(None, {"a": a, "b": a})


def run_backend(
    model_dir: Path, backend: str, rows: list[dict[str, Any]], args: Any
) -> dict[str, Any]:
    from qaflow.reader import ModelSpec, ReaderOptions, load_reader

    spec = ModelSpec("bench", str(model_dir), str(model_dir), backend=backend)  # type: ignore[arg-type]
    reader = load_reader(
        spec,
        options=ReaderOptions(batch_size=args.batch_size),
        threads=args.threads,
        onnx_cache_dir=MODELS_DIR / "onnx-cache",
    )
    questions = [row["question"] for row in rows]
    contexts = [row["context"] for row in rows]
    reader.answer(questions[:4], contexts[:4])
    best = float("inf")
    for _ in range(args.repeats):
        began = time.perf_counter()
        reader.answer(questions, contexts)
        best = min(best, time.perf_counter() - began)
    return {"seconds": best, "load_average": load_average()}


def window_lengths(model_dir: Path, rows: list[dict[str, Any]]) -> list[int]:
    from transformers import AutoTokenizer

    from qaflow.reader import ReaderOptions
    from qaflow.reader.features import encode_features

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    features = encode_features(
        tokenizer, [r["question"] for r in rows], [r["context"] for r in rows], ReaderOptions()
    )
    return [len(feature) for feature in features]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="QA model directory (default: bench MiniLM)")
    parser.add_argument("--head", default="fitted", choices=["fitted", "random"])
    parser.add_argument("--data", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timed passes")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_repo_sources()
    rows = load_xquad(args.data, args.limit)
    model_dir = args.model or bench_model(args.head)
    shape = model_shape(model_dir)
    lengths = window_lengths(model_dir, rows)
    peaks_before = gemm_peaks(args.threads)
    runs = {b: run_backend(model_dir, b, rows, args) for b in args.backends.split(",")}
    peaks_after = gemm_peaks(args.threads)
    peaks = {k: max(peaks_before[k], peaks_after.get(k, 0.0)) for k in peaks_before}
    fp32_peak = max(peaks["torch_fp32"], peaks["numpy_fp32"], peaks["ort_fp32"])
    int8_peak = max(peaks.get("torch_int8", 0.0), peaks["ort_int8"])
    useful = executed_flops(lengths, shape, None)
    table = []
    for backend, run in runs.items():
        batch = None if backend.startswith("onnx") else args.batch_size
        executed = executed_flops(lengths, shape, batch)
        run["gflop_per_question"] = useful / len(rows) / 1e9
        run["padding_overhead"] = executed / useful - 1
        run["achieved_gflops"] = executed / run["seconds"] / 1e9
        run["fraction_of_fp32_peak"] = run["achieved_gflops"] / fp32_peak
        run["fraction_of_int8_peak"] = run["achieved_gflops"] / int8_peak
        run["questions_per_s"] = len(rows) / run["seconds"]
        table.append(
            [
                backend,
                run["questions_per_s"],
                run["gflop_per_question"],
                f"{100 * run['padding_overhead']:.1f}%",
                run["achieved_gflops"],
                f"{100 * run['fraction_of_fp32_peak']:.0f}%",
                f"{100 * run['fraction_of_int8_peak']:.0f}%",
            ]
        )
    print(f"\nmodel {model_dir}: {shape}")
    gflop = useful / len(rows) / 1e9
    print(f"{len(rows)} questions -> {len(lengths)} windows, {gflop:.2f} GFLOP per question")
    print("matmul peaks (GFLOP/s; GOP/s for int8), the better of before and after:")
    print("  " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    headers = ["backend", "q/s", "GFLOP/q", "padding", "GFLOP/s", "of fp32 peak"]
    print_table([*headers, "of int8 peak"], table)
    write_json(
        args.json,
        {
            "model": str(model_dir),
            "shape": shape,
            "questions": len(rows),
            "windows": len(lengths),
            "mean_window_tokens": sum(lengths) / len(lengths),
            "gemm_peaks_before": peaks_before,
            "gemm_peaks_after": peaks_after,
            "runs": runs,
            "machine": machine(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
