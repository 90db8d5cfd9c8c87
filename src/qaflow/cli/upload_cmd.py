"""``qaflow upload`` and ``qaflow scan``: bring CSV files into the ``uploads`` repo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from qaflow.cli._common import EXIT_BAD_INPUT, EXIT_ERROR, cli_runtime, console, err_console
from qaflow.cli.pipeline_cmd import follow_uploads
from qaflow.db import JobState, UploadOrigin
from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.services import uploads
from qaflow.services.runtime import Runtime
from qaflow.services.upload_schemas import ScanReport, UploadPublic


def register(app: typer.Typer) -> None:
    """Add the ``upload`` and ``scan`` commands to the root app."""
    app.command("upload")(upload)
    app.command("scan")(scan)


def upload(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV files whose header names 'question' and 'context' columns."),
    ],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Run the pipeline in this process until the uploads are answered and in SQL "
            "(otherwise a running `qaflow serve` or `qaflow worker` answers them).",
        ),
    ] = False,
) -> None:
    """Validate and store each CSV FILE as an upload; the batch pipeline answers its rows.

    Files are independent: a bad one is reported and skipped, the others are stored.
    Exits with 2 when any file was refused.
    """
    with cli_runtime() as runtime:
        stored, failures = upload_files(runtime, files)
        if wait and stored:
            statuses = follow_uploads(runtime, [item.id for item in stored])
            if any(status.state == JobState.FAILED.value for status in statuses):
                raise typer.Exit(EXIT_ERROR)
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


def upload_files(
    runtime: Runtime, files: list[Path]
) -> tuple[list[UploadPublic], list[tuple[Path, str]]]:
    """Upload each file on its own, reporting each as it goes.

    Returns the uploads and (file, why) for each refused file. Storage or database trouble
    stops the run (a QaflowError): later files would meet it too.
    """
    stored: list[UploadPublic] = []
    failures: list[tuple[Path, str]] = []
    for path in files:
        outcome = _upload_one(runtime, path)
        if isinstance(outcome, str):
            failures.append((path, outcome))
            _say_error("Error:", f"{path}: {outcome}")
            continue
        stored.append(outcome)
        _say(
            f"Uploaded {path}: upload {outcome.id}, {outcome.rows} rows, commit {outcome.commit_id}"
        )
    return stored, failures


def _upload_one(runtime: Runtime, path: Path) -> UploadPublic | str:
    """The upload, or why the file was refused."""
    try:
        with runtime.sessions() as session, path.open("rb") as source:
            return uploads.create_upload(
                session=session,
                store=runtime.store,
                source=source,
                filename=path.name,
                origin=UploadOrigin.CLI,
            )
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    except (InvalidInputError, NotFoundError) as exc:
        return exc.message


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _say_error(label: str, text: str) -> None:
    err_console.print(
        Text.assemble((label, "bold red"), " ", text), highlight=False, soft_wrap=True
    )


def scan() -> None:
    """Commit the files waiting under the bucket's incoming/ prefix now (one scan).

    Bad files are moved to rejected/ with a .error.txt beside them, and the scan exits with 2
    (as `qaflow upload` does for a bad file), so a cron job notices. Exits with 1 when a file
    could not be handled (storage or database trouble); it stays for the next scan.
    """
    with cli_runtime() as runtime:
        report = uploads.scan_incoming(session_factory=runtime.sessions, store=runtime.store)
    _print_scan(report)
    if report.failed:
        raise typer.Exit(EXIT_ERROR)
    if report.rejected:
        raise typer.Exit(EXIT_BAD_INPUT)


def _print_scan(report: ScanReport) -> None:
    for item in report.committed:
        _say(
            f"Committed {item.filename}: upload {item.id}, {_rows(item.rows)}, "
            f"commit {item.commit_id}"
        )
    for item in report.already_committed:
        _say(f"Already committed as upload {item.id}: {item.filename}")
    for key, reason in report.rejected:
        _say_error("Rejected", f"{key}: {reason}")
    for key, reason in report.failed:
        _say_error("Failed", f"{key}: {reason}")
    if not (report.committed or report.already_committed or report.rejected or report.failed):
        _say("Nothing waiting under incoming/.")
