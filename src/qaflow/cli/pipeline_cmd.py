"""``qaflow run|worker|pipeline|export|commits|diff``: run the batch pipeline, inspect its data."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Column, Table
from rich.text import Text

from qaflow.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    cli_runtime,
    console,
    err_console,
    fail,
    file_written_whole,
)
from qaflow.config import ExecutorKind
from qaflow.db import JobState
from qaflow.pipeline.runner import JobProgress, ProgressCallback
from qaflow.pipeline.spec import QUESTION_ANSWER
from qaflow.pipeline.worker import PipelineWorker, RunReport
from qaflow.services import lineage_service, pipeline_service
from qaflow.services.pipeline_schemas import JobPublic, PipelinePublic, PipelineUpdate, UploadStatus
from qaflow.services.pipeline_worker import pipeline_worker, wait_for_uploads
from qaflow.services.runtime import Runtime
from qaflow.wording import plural

pipeline_app = typer.Typer(help="Show and change the batch pipeline.", no_args_is_help=True)

ExecutorOption = Annotated[
    str | None, typer.Option("--executor", help="local or ray (default: QAFLOW_EXECUTOR).")
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="Parallel workers (default: the spec's).")
]
NameArgument = Annotated[str, typer.Argument(help="Pipeline name.")]

SHORT_COMMIT = 12
ID_WIDTH = 32  # uuid4 hex


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the root app."""
    app.command("run")(run)
    app.command("worker")(worker)
    app.command("export")(export)
    app.command("commits")(commits)
    app.command("diff")(diff)
    app.add_typer(pipeline_app, name="pipeline")


def run(
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """One pass: commit files waiting in the bucket, run every pending job, push answers to SQL.

    Exits with 1 when a job failed or left datums failed, or output could not be written to
    SQL, and with 2
    when the scan moved a bad file to rejected/ (as `qaflow scan` does).
    """
    with (
        cli_runtime() as runtime,
        _progress_bars(quiet) as on_progress,
        _worker(runtime, executor, workers, on_progress) as pipeline,
    ):
        report = pipeline.run_once(force=True)
    _print_report(report)
    if report.egress_failures or any(
        job.state == JobState.FAILED or job.failed for job in report.jobs
    ):
        raise typer.Exit(EXIT_ERROR)
    if report.rejected:
        raise typer.Exit(EXIT_BAD_INPUT)


def worker(executor: ExecutorOption = None, workers: WorkersOption = None) -> None:
    """Run the pipeline continuously until interrupted (Ctrl-C or SIGTERM)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with cli_runtime() as runtime, _worker(runtime, executor, workers, None) as pipeline:
        console.print(f"Pipeline worker {pipeline.worker_id} running; Ctrl-C stops it.")
        pipeline.run_forever(stop)
    console.print("Pipeline worker stopped.")


def follow_uploads(
    runtime: Runtime,
    upload_ids: Sequence[str],
    *,
    executor: str | None = None,
    workers: int | None = None,
) -> list[UploadStatus]:
    """Run the pipeline here until the uploads are answered (for ``qaflow upload --wait``)."""
    with (
        _progress_bars(False) as on_progress,
        _worker(runtime, executor, workers, on_progress) as pipeline,
    ):
        statuses = wait_for_uploads(
            worker=pipeline,
            session_factory=runtime.sessions,
            upload_ids=upload_ids,
            poll_s=runtime.settings.worker_poll_s,
        )
    for status in statuses:
        errors = f", {plural(status.error_rows, 'row')} with errors" if status.error_rows else ""
        console.print(f"Upload {status.id}: {status.state}{errors}")
        for error in status.errors:
            err_console.print(f"  {error}", highlight=False)
    return statuses


@pipeline_app.command("show")
def show(
    name: NameArgument = QUESTION_ANSWER,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the pipeline's current spec and its versions."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        pipeline = pipeline_service.get_pipeline(session=session, name=name)
    _print_pipeline(pipeline, as_json)


@pipeline_app.command("update")
def update(
    name: NameArgument = QUESTION_ANSWER,
    model: Annotated[str | None, typer.Option(help="Registered model name.")] = None,
    shard_rows: Annotated[int | None, typer.Option(min=1, help="Rows per datum.")] = None,
    datum_tries: Annotated[int | None, typer.Option(min=1, help="Attempts per datum.")] = None,
    parallelism: Annotated[int | None, typer.Option(min=1, help="Executor workers.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Questions per batch.")] = None,
    max_seq_len: Annotated[int | None, typer.Option(min=16, help="Tokens per window.")] = None,
    doc_stride: Annotated[int | None, typer.Option(min=0, help="Window overlap.")] = None,
    max_answer_len: Annotated[int | None, typer.Option(min=1, help="Longest answer.")] = None,
    trigger: Annotated[str | None, typer.Option(help="commit or cron.")] = None,
    reprocess: Annotated[
        bool, typer.Option("--reprocess", help="Rerun all existing uploads with the new spec.")
    ] = False,
) -> None:
    """Change the spec. A new model or reading parameter makes a new version, used for new
    uploads; --reprocess also reruns the old ones (run `qaflow run` or a worker)."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        pipeline_service.ensure_question_answer(session=session, settings=runtime.settings)
        changes = PipelineUpdate(
            model=model,
            shard_rows=shard_rows,
            datum_tries=datum_tries,
            parallelism=parallelism,
            batch_size=batch_size,
            max_seq_len=max_seq_len,
            doc_stride=doc_stride,
            max_answer_len=max_answer_len,
            trigger=cast(Literal["commit", "cron"] | None, trigger),
            reprocess=reprocess,
        )
        result = pipeline_service.update_pipeline(
            session=session, settings=runtime.settings, name=name, update=changes
        )
    what = "new version" if result.new_version else "same version (answers unchanged)"
    console.print(f"Pipeline {name}: {what} v{result.pipeline.version}.")
    if result.reprocess_job_id:
        if result.reprocess_state == JobState.DONE.value:
            console.print(
                f"Reprocess job {result.reprocess_job_id} already ran over the same input with "
                "this version, without failures: nothing to rerun."
            )
        else:
            console.print(f"Reprocess job {result.reprocess_job_id} {result.reprocess_state}.")


@pipeline_app.command("jobs")
def jobs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 20,
    state: Annotated[str | None, typer.Option(help="queued, running, done or failed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List jobs, newest first."""
    if state is not None and state not in {member.value for member in JobState}:
        raise typer.BadParameter(
            "state must be queued, running, done or failed", param_hint="--state"
        )
    with cli_runtime() as runtime, runtime.sessions() as session:
        found = pipeline_service.list_jobs(
            session=session, limit=limit, state=None if state is None else JobState(state)
        )
    if as_json:
        _print_json([job.model_dump(mode="json") for job in found])
        return
    _print_jobs(found)


def export(
    upload_id: Annotated[str, typer.Argument(help="The upload's id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write; - for stdout.")],
    export_format: Annotated[
        str, typer.Option("--format", "-f", help="csv, json or parquet.")
    ] = "csv",
) -> None:
    """Write an upload's rows with their answers to a file."""
    if export_format not in ("csv", "json", "parquet"):
        raise typer.BadParameter("format must be csv, json or parquet", param_hint="--format")
    chosen = cast(pipeline_service.ExportFormat, export_format)
    with cli_runtime() as runtime:
        with runtime.sessions() as session:
            results = pipeline_service.upload_results(session=session, upload_id=upload_id)
        if str(output) == "-":
            count = pipeline_service.export_results(
                results=results, store=runtime.store, export_format=chosen, sink=sys.stdout.buffer
            )
        else:
            with file_written_whole(output) as sink:
                count = pipeline_service.export_results(
                    results=results, store=runtime.store, export_format=chosen, sink=sink
                )
            err_console.print(f"Wrote {plural(count, 'row')} to {output}.")
    if results.missing_rows:
        fail(
            f"{plural(results.missing_rows, 'row')} of {results.upload_rows:,} have no answer: "
            f"their datums failed (qaflow pipeline jobs shows why; qaflow pipeline update "
            "--reprocess runs them again).",
            code=EXIT_ERROR,
        )


def commits(
    repo: Annotated[str, typer.Argument(help="Repo name, e.g. uploads or question_answer.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a repo's commits, newest first, with their provenance."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        found = lineage_service.repo_commits(session=session, name=repo, limit=limit)
    if as_json:
        _print_json([commit.model_dump(mode="json") for commit in found])
        return
    # Commit ids shortened as git does: every command and route takes a unique leading part.
    table = Table(
        "seq",
        Column("commit", no_wrap=True),
        "origin",
        "created",
        Column("input commit", no_wrap=True),
        _id_column("job"),
        "message",
    )
    for commit in found:
        table.add_row(
            str(commit.seq),
            commit.id[:SHORT_COMMIT],
            commit.origin,
            f"{commit.created_at:%Y-%m-%d %H:%M:%S}",
            (commit.input_commit_id or "")[:SHORT_COMMIT],
            commit.job_id or "",
            commit.message or "",
        )
    console.print(table)


def diff(
    from_commit: Annotated[
        str, typer.Argument(help="The older output commit (id or a unique leading part).")
    ],
    to_commit: Annotated[
        str, typer.Argument(help="The newer output commit (id or a unique leading part).")
    ],
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most rows to list.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the rows whose answer changed between two output commits."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        result = lineage_service.diff_commits(
            session=session, store=runtime.store, from_id=from_commit, to_id=to_commit, limit=limit
        )
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    console.print(
        f"{plural(len(result.changed_files), 'file')} changed, {len(result.added_files)} added, "
        f"{len(result.removed_files)} removed; {plural(len(result.changed_rows), 'row')} changed"
        + (" (more not listed)" if result.truncated else "")
    )
    if not result.changed_rows:
        return
    table = Table("file", "row", "question", "old answer", "new answer")
    for row in result.changed_rows:
        old = row.old_answer if row.old_error is None else f"error: {row.old_error}"
        new = row.new_answer if row.new_error is None else f"error: {row.new_error}"
        table.add_row(row.input_path, str(row.row_index), row.question, old or "", new or "")
    console.print(table)


@contextmanager
def _worker(
    runtime: Runtime,
    executor: str | None,
    workers: int | None,
    on_progress: ProgressCallback | None,
) -> Iterator[PipelineWorker]:
    if executor not in (None, "local", "ray"):
        raise typer.BadParameter("executor must be local or ray", param_hint="--executor")
    with pipeline_worker(
        settings=runtime.settings,
        session_factory=runtime.sessions,
        store=runtime.store,
        executor=cast(ExecutorKind | None, executor),
        workers=workers,
        on_progress=on_progress,
    ) as pipeline:
        yield pipeline


@contextmanager
def _progress_bars(quiet: bool) -> Iterator[ProgressCallback | None]:
    """A progress bar per job, fed by the worker's progress callback."""
    if quiet:
        yield None
        return
    if not err_console.is_terminal:
        yield _progress_lines()  # a log file gets lines as datums settle; bars only at the end
        return
    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("job {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=err_console,
        transient=False,
    ) as progress:

        def on_progress(update: JobProgress) -> None:
            if update.job_id not in bars:
                bars[update.job_id] = progress.add_task(update.job_id[:12], total=None, detail="")
            settled = update.processed + update.skipped + update.failed
            progress.update(
                bars[update.job_id],
                total=max(update.total, 1),
                completed=settled if update.total else 1,
                detail=f"{update.state}: {update.processed} computed, {update.skipped} skipped, "
                f"{update.failed} failed",
            )

        yield on_progress


def _print_report(report: RunReport) -> None:
    console.print(
        f"{report.scanned} files taken from the bucket, {report.planned} jobs planned, "
        f"{len(report.jobs)} jobs run, {report.inserted_rows} answers written to SQL "
        f"from {report.egressed_commits} output commits.",
        soft_wrap=True,
    )
    for key, reason in report.rejected:
        err_console.print(f"Rejected {key} (moved to rejected/): {reason}", soft_wrap=True)
    for commit_id, error in report.egress_failures.items():
        err_console.print(
            f"Output commit {commit_id} was not written to SQL (the next run retries it): {error}",
            soft_wrap=True,
        )
    for job in report.jobs:
        if job.state == JobState.FAILED or job.failed:
            err_console.print(
                f"Job {job.job_id}: {job.state}, {job.failed} of {job.total} datums failed "
                f"(see `qaflow pipeline jobs`).",
                highlight=False,
            )


def _print_pipeline(pipeline: PipelinePublic, as_json: bool) -> None:
    if as_json:
        _print_json(pipeline.model_dump(mode="json"))
        return
    console.print(
        Text.assemble(
            (pipeline.name, "bold"), f" v{pipeline.version} (spec {pipeline.spec_hash[:12]})"
        )
    )
    table = Table("setting", "value")
    for key, value in pipeline.spec.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)
    versions = Table("version", "model", "model ref", "spec", "created")
    for version in pipeline.versions:
        versions.add_row(
            str(version.version),
            version.model,
            version.model_ref,
            version.spec_hash[:12],
            f"{version.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(versions)


def _print_jobs(found: list[JobPublic]) -> None:
    table = Table(
        _id_column("job"),
        "pipeline",
        "scope",
        "state",
        "datums",
        "done",
        "skipped",
        "failed",
        Column("error", overflow="fold"),
    )
    for job in found:
        table.add_row(
            job.id,
            f"{job.pipeline} v{job.pipeline_version}",
            job.scope,
            job.state,
            str(job.total),
            str(job.processed),
            str(job.skipped),
            str(job.failed),
            job.error or "",
        )
    console.print(table)


def _progress_lines() -> ProgressCallback:
    """A progress line per job whenever another datum settles (for logs, not terminals)."""
    last: dict[str, int] = {}

    def on_progress(update: JobProgress) -> None:
        settled = update.processed + update.skipped + update.failed
        if last.get(update.job_id) == settled:
            return
        last[update.job_id] = settled
        err_console.print(
            f"job {update.job_id[:12]}: {settled}/{update.total} datums settled "
            f"({update.processed} computed, {update.skipped} skipped, {update.failed} failed)",
            highlight=False,
            soft_wrap=True,
        )

    return on_progress


def _id_column(header: str) -> Column:
    # Ids are what users copy into the next command: on one line where the terminal allows it,
    # else folded, never cut with an ellipsis.
    return Column(header, overflow="fold", min_width=ID_WIDTH)


def _print_json(value: object) -> None:
    console.print_json(json.dumps(value, default=str))
