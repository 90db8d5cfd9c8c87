"""Online latency: POST /answer under 1, 8 and 32 concurrent clients against a local `qaflow serve`.

    python bench/online_latency.py [--model DIR] [--backends torch,onnx] [--seconds 20]
        [--load-generator wrk|httpx] [--json out]

Starts `qaflow serve --no-worker` on a free loopback port (QAFLOW_HOME under bench/.models/),
registers the model once per backend (PUT /models), then for each concurrency runs a closed-loop
load for a bounded time, each client posting XQuAD questions with their (SQuAD-sized) contexts in
file order. Reports p50/p95/p99 latency, requests/s and the server's micro-batching counters, and
compares requests/s at the highest concurrency with the engine's own batch throughput on exactly
the questions that run served (measured in this process, with the server stopped).

The load generator shares the machine's cores with the server, so its CPU time is not free:
`wrk` (C, one thread, a generated Lua script; `apt-get install wrk`) is used when it is on the
PATH, else asyncio httpx clients, which cost the server a noticeable share of a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, machine, print_table, use_repo_sources, write_json
from _models import DEFAULT_XQUAD, MODELS_DIR, bench_model, load_xquad

CONCURRENCY = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(model_dir: Path, port: int, home: Path) -> subprocess.Popen[bytes]:
    shutil.rmtree(home / "db", ignore_errors=True)
    env = {
        **os.environ,
        "QAFLOW_HOME": str(home),
        "QAFLOW_DATABASE_URL": f"sqlite:///{home / 'db' / 'qaflow.db'}",
        "QAFLOW_DEFAULT_MODEL": "bench-torch",
        "QAFLOW_DEFAULT_MODEL_REF": str(model_dir),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    (home / "db").mkdir(parents=True, exist_ok=True)
    qaflow = Path(sys.executable).parent / "qaflow"
    command = [str(qaflow), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-worker", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def wait_ready(base: str, server: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"qaflow serve exited with {server.returncode}")
            try:
                if (await client.get("/healthz")).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("qaflow serve did not become ready")


async def register(base: str, model_dir: Path, backend: str) -> str:
    import httpx

    name = f"bench-{backend}"
    body = {"name": name, "model": str(model_dir), "tokenizer": str(model_dir), "backend": backend}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        response = await client.put("/models", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"PUT /models refused {name}: {response.text}")
    return name


async def load(
    base: str, model: str, rows: list[dict[str, Any]], clients: int, seconds: float
) -> dict[str, Any]:
    """Closed loop: each client posts, waits for the answer, posts the next; bounded in time."""
    import httpx

    latencies: list[float] = []
    errors = 0
    cursor = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one_client(deadline: float) -> None:
            nonlocal cursor, errors
            while time.perf_counter() < deadline:
                row = rows[cursor % len(rows)]
                cursor += 1
                body = {"question": row["question"], "context": row["context"]}
                began = time.perf_counter()
                response = await client.post("/answer", params={"model": model}, json=body)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

        # Warm-up: the first request loads the model (and may export it to ONNX).
        await client.post("/answer", params={"model": model}, json=_body(rows[0]))
        before = (await client.get("/stats")).json()
        began = time.perf_counter()
        await asyncio.gather(*(one_client(began + seconds) for _ in range(clients)))
        elapsed = time.perf_counter() - began
        after = (await client.get("/stats")).json()
    latencies.sort()
    measured = {
        "requests": len(latencies),
        "errors": errors,
        "rows_posted": cursor,
        "seconds": elapsed,
        "p50_ms": _quantile(latencies, 0.50) * 1000,
        "p95_ms": _quantile(latencies, 0.95) * 1000,
        "p99_ms": _quantile(latencies, 0.99) * 1000,
    }
    return _level_result(clients, measured, model, before, after)


def load_with_wrk(
    base: str, model: str, rows: list[dict[str, Any]], clients: int, seconds: float
) -> dict[str, Any]:
    """The same closed loop driven by wrk: ``clients`` connections on one wrk thread."""
    import httpx

    script = MODELS_DIR / "online-wrk.lua"
    script.write_text(_wrk_script(f"/answer?model={model}", rows), encoding="utf-8")
    with httpx.Client(base_url=base, timeout=600) as client:
        client.post("/answer", params={"model": model}, json=_body(rows[0])).raise_for_status()
        before = client.get("/stats").json()
        command = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout=60s"]
        finished = subprocess.run(
            [*command, "-s", str(script), base], capture_output=True, text=True, check=True
        )
        after = client.get("/stats").json()
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    measured = {
        "requests": summary["requests"] - summary["errors"],
        "errors": summary["errors"],
        "rows_posted": summary["requests"],
        "seconds": summary["duration_us"] / 1e6,
        "p50_ms": summary["p50_us"] / 1000,
        "p95_ms": summary["p95_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
    }
    return _level_result(clients, measured, model, before, after)


def _level_result(
    clients: int,
    measured: dict[str, Any],
    model: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> dict[str, Any]:
    """One concurrency level: the client's view plus the server's counters over the run."""

    def delta(section: str, key: str, name: str | None = None) -> int:
        old = before.get(section, {})
        new = after.get(section, {})
        if name is not None:
            old, new = old.get(name, {}), new.get(name, {})
        return int(new.get(key, 0)) - int(old.get(key, 0))

    batches = delta("batching", "batches", model)
    commits = delta("recording", "commits")
    return {
        "clients": clients,
        **measured,
        "requests_per_s": measured["requests"] / measured["seconds"],
        "server_mean_batch": delta("batching", "requests", model) / max(1, batches),
        "server_max_batch": after.get("batching", {}).get(model, {}).get("max_batch_size"),
        "answers_per_commit": delta("recording", "answers") / max(1, commits),
    }


def _wrk_script(path: str, rows: list[dict[str, Any]]) -> str:
    """Lua for wrk: POST the rows' bodies in file order; print a JSON summary when done."""
    bodies = ",\n".join(f"[==[{json.dumps(_body(row))}]==]" for row in rows)
    return f"""local bodies = {{
{bodies}
}}
local sent = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  sent = sent + 1
  return wrk.format(nil, "{path}", nil, bodies[(sent - 1) % #bodies + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "errors": %d, "duration_us": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _body(row: dict[str, Any]) -> dict[str, str]:
    return {"question": row["question"], "context": row["context"]}


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def served_rows(rows: list[dict[str, Any]], posted: int) -> list[dict[str, Any]]:
    """The rows a load run posted, in order (it cycles through the file from the start)."""
    return [rows[i % len(rows)] for i in range(max(1, posted))]


def engine_throughput(model_dir: Path, backend: str, rows: list[dict[str, Any]]) -> float:
    from qaflow.reader import ModelSpec, ReaderOptions, load_reader

    spec = ModelSpec("bench", str(model_dir), str(model_dir), backend=backend)  # type: ignore[arg-type]
    home = MODELS_DIR / "serve-home"
    reader = load_reader(
        spec, options=ReaderOptions(batch_size=32), onnx_cache_dir=home / "cache" / "onnx"
    )
    questions = [row["question"] for row in rows]
    contexts = [row["context"] for row in rows]
    reader.answer(questions[:4], contexts[:4])
    began = time.perf_counter()
    reader.answer(questions, contexts)
    return len(rows) / (time.perf_counter() - began)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="QA model directory (default: bench MiniLM)")
    parser.add_argument("--head", default="fitted", choices=["fitted", "random"])
    parser.add_argument("--data", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per concurrency")
    parser.add_argument(
        "--load-generator",
        choices=["wrk", "httpx"],
        default="wrk" if shutil.which("wrk") else "httpx",
        help="wrk when installed (lighter on the shared cores), else httpx",
    )
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_repo_sources()
    rows = load_xquad(args.data)
    model_dir = args.model or bench_model(args.head)
    backends = args.backends.split(",")
    results: dict[str, Any] = {
        "model": str(model_dir),
        "machine": machine(),
        "load_generator": args.load_generator,
        "backends": {},
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(model_dir, port, MODELS_DIR / "serve-home")
    try:
        asyncio.run(wait_ready(base, server))
        for backend in backends:
            name = asyncio.run(register(base, model_dir, backend))
            runs = []
            for clients in CONCURRENCY:
                print(f"[bench] {backend}: {clients} clients for {args.seconds:.0f} s")
                if args.load_generator == "wrk":
                    run = load_with_wrk(base, name, rows, clients, args.seconds)
                else:
                    run = asyncio.run(load(base, name, rows, clients, args.seconds))
                run["load_average"] = load_average()
                runs.append(run)
            results["backends"][backend] = {"online": runs}
    finally:
        server.terminate()
        server.wait(timeout=30)
    table = []
    for backend in backends:
        entry = results["backends"][backend]
        print(f"[bench] {backend}: engine batch throughput, server stopped")
        top = entry["online"][-1]
        entry["engine_batch_qps"] = engine_throughput(
            model_dir, backend, served_rows(rows, top["rows_posted"])
        )
        entry["online_vs_engine"] = top["requests_per_s"] / entry["engine_batch_qps"]
        for run in entry["online"]:
            table.append(
                [
                    backend,
                    run["clients"],
                    run["requests_per_s"],
                    run["p50_ms"],
                    run["p95_ms"],
                    run["p99_ms"],
                    run["errors"],
                    run["server_mean_batch"],
                    run["answers_per_commit"],
                    entry["engine_batch_qps"] if run is top else None,
                    entry["online_vs_engine"] if run is top else None,
                ]
            )
    print(f"\nmodel {model_dir}, load generator {args.load_generator}")
    headers = ["backend", "clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
    headers += ["mean batch", "answers/commit", "engine q/s", "online/engine"]
    print_table(headers, table)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
