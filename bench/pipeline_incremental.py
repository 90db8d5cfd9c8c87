"""Incremental cost: a repo of N processed datums, then one more file. What does its job cost?

    python bench/pipeline_incremental.py [--datums 1000 10000] [--database-url URL] [--json FILE]

For each N, a fresh database is seeded directly (no model runs): N uploads, each its own commit
with one file, each already processed (its shard digest, a done job and a done datum). Then one
new CSV is uploaded and its job is planned, claimed, enumerated, its shards digested and its
datums adopted: the work a worker does before the first datum runs. That overhead should not
grow with N. Last, a reprocess job over the whole repo (N+1 datums, N of them done) shows the
per-datum cost of skipping.

Then appending (``--append-rows R``): a CSV of R rows is uploaded and planned, then the same
file with 1 % more rows: how many of its datums must run, against all of them when datums were
keyed by the whole file, and what digesting its shards cost. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _common import machine, print_table, write_json  # noqa: E402

T = TypeVar("T")
ROWS_PER_FILE = 100
REPEATS = 5


def _bench_spec() -> Any:
    """A spec over the bundled model: reprocessing fingerprints its weights; nothing runs it."""
    from qaflow.pipeline.spec import PipelineSpec, pinned
    from qaflow.reader.bundled import bundled_root

    model = str(bundled_root() / "minilm-l6-squad")
    return pinned(PipelineSpec(model="bench", model_ref=model, tokenizer=model))


def timed(action: Callable[[], T]) -> tuple[T, float]:
    began = time.perf_counter()
    result = action()
    return result, (time.perf_counter() - began) * 1000


def seed(sessions: Any, datums: int, spec: Any, version: Any) -> None:
    """N processed uploads, inserted in bulk straight into the tables."""
    from sqlalchemy import insert, update

    from qaflow.db import (
        Blob,
        Commit,
        CommitFile,
        Datum,
        Job,
        PipelineVersion,
        Repo,
        RepoFile,
        ShardDigest,
        Upload,
    )

    result_sha = hashlib.sha256(b"results").hexdigest()
    with sessions() as session:
        repo = Repo(name=spec.input_repo, kind="input", description="bench")
        session.add(repo)
        session.flush()
        session.execute(insert(Blob), [{"sha256": result_sha, "size": 1}])
        for start in range(0, datums, 2000):
            batch = [
                _file(repo.id, n, spec, version, result_sha)
                for n in range(start, min(start + 2000, datums))
            ]
            for model, key in (
                (Blob, "blob"),
                (Commit, "commit"),
                (CommitFile, "commit_file"),
                (RepoFile, "repo_file"),
                (Upload, "upload"),
                (ShardDigest, "shard_digest"),
                (Job, "job"),
                (Datum, "datum"),
            ):
                session.execute(insert(model), [rows[key] for rows in batch])
        session.execute(
            update(PipelineVersion)
            .where(PipelineVersion.id == version.id)
            .values(planned_seq=datums)
        )
        session.commit()


def _file(
    repo_id: int, n: int, spec: Any, version: Any, result_sha: str
) -> dict[str, dict[str, Any]]:
    from qaflow.db import utc_now
    from qaflow.pipeline.datums import datum_id

    sha = hashlib.sha256(f"file {n}".encode()).hexdigest()
    digest = hashlib.sha256(f"shard of file {n}".encode()).hexdigest()
    commit_id, upload_id, job_id = (uuid.uuid4().hex for _ in range(3))
    path = f"{upload_id}/file-{n}.csv"
    now = utc_now()
    return {
        "blob": {"sha256": sha, "size": 1000, "created_at": now},
        "commit": {
            "id": commit_id,
            "repo_id": repo_id,
            "seq": n + 1,
            "origin": "upload",
            "created_at": now,
        },
        "commit_file": {
            "commit_id": commit_id,
            "path": path,
            "op": "put",
            "blob_sha256": sha,
            "size": 1000,
        },
        "repo_file": {"repo_id": repo_id, "path": path, "blob_sha256": sha, "commit_id": commit_id},
        "upload": {
            "id": upload_id,
            "filename": f"file-{n}.csv",
            "path": path,
            "sha256": sha,
            "size_bytes": 1000,
            "rows": ROWS_PER_FILE,
            "empty_rows": 0,
            "columns_json": '["question", "context"]',
            "origin": "cli",
            "commit_id": commit_id,
            "created_at": now,
        },
        "shard_digest": {
            "blob_sha256": sha,
            "shard_start": 0,
            "shard_stop": ROWS_PER_FILE,
            "digest": digest,
        },
        "job": {
            "id": job_id,
            "pipeline_version_id": version.id,
            "input_commit_id": commit_id,
            "scope": "changes",
            "state": "done",
            "total": 1,
            "processed": 1,
            "created_at": now,
        },
        "datum": {
            "id": datum_id(
                spec.spec_hash, sha, 0, ROWS_PER_FILE, {(sha, 0, ROWS_PER_FILE): digest}
            ),
            "job_id": job_id,
            "path": path,
            "blob_sha256": sha,
            "shard_start": 0,
            "shard_stop": ROWS_PER_FILE,
            "state": "done",
            "tries": 1,
            "result_sha256": result_sha,
            "rows": ROWS_PER_FILE,
            "error_rows": 0,
            "updated_at": now,
        },
    }


def job_overhead(sessions: Any, store: Any) -> dict[str, float]:
    """Plan, claim, enumerate and adopt the next job: what runs before its first datum."""
    from qaflow.db import JobState
    from qaflow.pipeline import jobs
    from qaflow.pipeline.datums import adopt_datums, job_inputs
    from qaflow.pipeline.planning import plan_datums
    from qaflow.pipeline.spec import current_version, spec_of

    with sessions() as session:
        version = current_version(session=session, name="question_answer")
        spec = spec_of(version)
        planned, plan_ms = timed(lambda: jobs.plan_jobs(session=session, version=version))
        job, claim_ms = timed(
            lambda: jobs.claim_job(session=session, worker_id="bench:1:x", lease_s=60)
        )
        assert job is not None
        inputs, enumerate_ms = timed(
            lambda: job_inputs(session=session, store=store, job=job, spec=spec)
        )
        refs, digest_ms = timed(
            lambda: plan_datums(session=session, store=store, files=inputs.files, spec=spec)
        )
        adoption, adopt_ms = timed(
            lambda: adopt_datums(
                session=session, job=job, refs=refs, owner_is_live=lambda _: True, settled=set()
            )
        )
        # The bench does not run the datum: park the job so the next claim takes another.
        job.state = JobState.DONE
        session.commit()
    return {
        "jobs_planned": len(planned),
        "datums": len(refs),
        "to_run": len(adoption.runnable),
        "skipped": adoption.skipped,
        "plan_ms": plan_ms,
        "claim_ms": claim_ms,
        "enumerate_ms": enumerate_ms,
        "digest_ms": digest_ms,
        "adopt_ms": adopt_ms,
        "total_ms": plan_ms + claim_ms + enumerate_ms + digest_ms + adopt_ms,
    }


def _add_one_file(runtime: Any, number: int) -> dict[str, float]:
    from qaflow.db import UploadOrigin
    from qaflow.services.uploads import create_upload

    rows = "".join(f"Q{number}.{n}?,Context {n}.\n" for n in range(ROWS_PER_FILE))
    with runtime.sessions() as session:
        create_upload(
            session=session,
            store=runtime.store,
            source=io.BytesIO(("question,context\n" + rows).encode()),
            filename=f"new-{number}.csv",
            origin=UploadOrigin.CLI,
        )
    return job_overhead(runtime.sessions, runtime.store)


def _csv(rows: int) -> bytes:
    lines = (f"Question {n}?,Context {n} says something about the row.\n" for n in range(rows))
    return ("question,context\n" + "".join(lines)).encode()


def measure_append(rows: int, scratch: Path) -> dict[str, Any]:
    """Upload and plan a file of ``rows`` rows, then the same file with 1 % more rows."""
    from sqlalchemy import update

    from qaflow.config import Settings
    from qaflow.db import Datum, DatumState, UploadOrigin
    from qaflow.pipeline.spec import ensure_pipeline
    from qaflow.services.runtime import open_runtime
    from qaflow.services.uploads import create_upload

    home = scratch / f"append{rows}"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'qaflow.db'}")
    added = max(rows // 100, 1)
    data = _csv(rows + added)
    original = data[: data.index(b"Question %d?" % rows)]
    with open_runtime(settings) as runtime:
        with runtime.sessions() as session:
            ensure_pipeline(
                session=session,
                spec=_bench_spec(),
            )
        steps = []
        for number, content in enumerate((original, data)):
            with runtime.sessions() as session:
                create_upload(
                    session=session,
                    store=runtime.store,
                    source=io.BytesIO(content),
                    filename=f"questions-{number}.csv",
                    origin=UploadOrigin.CLI,
                )
            steps.append(job_overhead(runtime.sessions, runtime.store))
            with runtime.sessions() as session:  # as if the job's datums had run
                session.execute(update(Datum).values(state=DatumState.DONE))
                session.commit()
    return {
        "rows": rows,
        "added": added,
        "megabytes": len(data) / 1e6,
        "datums": steps[1]["datums"],
        "to_run": steps[1]["to_run"],
        "digest_ms": steps[1]["digest_ms"],
    }


def _median(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}


def measure(datums: int, database_url: str | None, scratch: Path) -> dict[str, Any]:
    from qaflow.config import Settings
    from qaflow.pipeline import jobs
    from qaflow.pipeline.spec import ensure_pipeline
    from qaflow.services.runtime import open_runtime

    home = scratch / f"n{datums}"
    settings = Settings(home=home, database_url=database_url or f"sqlite:///{home / 'qaflow.db'}")
    with open_runtime(settings) as runtime:
        spec = _bench_spec()
        with runtime.sessions() as session:
            version = ensure_pipeline(session=session, spec=spec)
        _, seed_ms = timed(lambda: seed(runtime.sessions, datums, spec, version))
        one_file = [_add_one_file(runtime, n) for n in range(REPEATS)]
        with runtime.sessions() as session:
            jobs.reprocess(session=session, name="question_answer")
        everything = job_overhead(runtime.sessions, runtime.store)
    return {
        "datums": datums,
        "seed_s": seed_ms / 1000,
        "new_file": _median(one_file),
        "reprocess_all": everything,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datums", type=int, nargs="+", default=[10_000], help="repo sizes N")
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument(
        "--append-rows", type=int, default=100_000, help="rows of the file appended to (0: skip)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.database_url and len(args.datums) > 1:
        print("--database-url takes one --datums size (the database must start empty)")
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        results = [measure(n, args.database_url, Path(scratch)) for n in args.datums]
        append = measure_append(args.append_rows, Path(scratch)) if args.append_rows else None
    print(
        "Adding one file to a repo of N processed datums "
        f"(the new job before its datum runs; median of {REPEATS}):"
    )
    print_table(
        ["N", "plan ms", "claim ms", "enumerate ms", "digest ms", "adopt ms", "total ms", "to run"],
        [
            [
                r["datums"],
                r["new_file"]["plan_ms"],
                r["new_file"]["claim_ms"],
                r["new_file"]["enumerate_ms"],
                r["new_file"]["digest_ms"],
                r["new_file"]["adopt_ms"],
                r["new_file"]["total_ms"],
                r["new_file"]["to_run"],
            ]
            for r in results
        ],
    )
    print("\nReprocessing the whole repo with the same spec (every datum but the new one skipped):")
    print_table(
        ["N", "datums", "skipped", "total ms", "us per datum"],
        [
            [
                r["datums"],
                r["reprocess_all"]["datums"],
                r["reprocess_all"]["skipped"],
                r["reprocess_all"]["total_ms"],
                1000 * r["reprocess_all"]["total_ms"] / max(r["reprocess_all"]["datums"], 1),
            ]
            for r in results
        ],
    )
    if append is not None:
        print(
            f"\nAppending {append['added']:,} rows to a processed file of {append['rows']:,} "
            f"rows ({append['megabytes']:.1f} MB, QAFLOW_SHARD_ROWS default):"
        )
        print_table(
            ["datums", "to run", "keyed by whole file", "ratio", "digest ms"],
            [
                [
                    append["datums"],
                    append["to_run"],
                    append["datums"],
                    append["to_run"] / append["datums"],
                    append["digest_ms"],
                ]
            ],
        )
    write_json(
        args.json,
        {
            "machine": machine(),
            "database": args.database_url or "sqlite",
            "results": results,
            "append": append,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
