"""``qaflow``: serve the API, ask questions, manage models and the database."""

from __future__ import annotations

import errno
import json
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from qaflow import __version__
from qaflow.cli import (
    eval_cmd,
    models_cmd,
    optimize_cmd,
    pipeline_cmd,
    train_cmd,
    ui_cmd,
    upload_cmd,
)
from qaflow.cli._common import (
    EXIT_BAD_INPUT,
    cli_runtime,
    console,
    err_console,
    fail,
    readable_errors,
    settings_from_env,
)
from qaflow.errors import InvalidInputError, StorageError
from qaflow.reader import ModelSpec
from qaflow.services import registry
from qaflow.services.runtime import open_runtime

app = typer.Typer(
    name="qaflow",
    help="Extractive question answering at production scale: a REST API, versioned batch "
    "pipelines with lineage into SQL, and a web app. Settings come from QAFLOW_* variables "
    "(see `qaflow config`).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the SQL database.", no_args_is_help=True)


def _resolve_eval_model(name: str | None) -> ModelSpec:
    """A local model directory, else a registered name (none: the default), else a hub id."""
    if name is not None and Path(name).expanduser().is_dir():
        return eval_cmd.resolve_local_model(name)
    with cli_runtime() as runtime, runtime.sessions() as session:
        try:
            return registry.resolve_model(session=session, settings=runtime.settings, name=name)
        except InvalidInputError:
            if name is None:
                raise
    return eval_cmd.resolve_local_model(name)


def _version(value: bool) -> None:
    if value:
        console.print(f"qaflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """qaflow: answer questions about text, one at a time or by the million."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the batch pipeline in the server.")
    ] = True,
) -> None:
    """Run the REST API (OpenAPI docs at /docs), and the batch pipeline unless --no-worker."""
    import uvicorn

    from qaflow.api import create_app

    settings = settings_from_env().model_copy(update={"embedded_worker": worker})
    _check_can_listen(host, port)  # before minutes of model loading, not after
    # The database and bucket are opened once here, where a mistake is one sentence; inside
    # uvicorn's start-up it would be a traceback and exit status 3.
    with readable_errors(), open_runtime(settings) as runtime:
        try:
            runtime.store.check()
        except StorageError as exc:
            # Maybe only not up yet (a bucket service starting beside the API): /answer works
            # without it, and /healthz reports it until it is there.
            err_console.print(f"Warning: {exc.message}", highlight=False)
    console.print(f"qaflow {__version__} serving on http://{host}:{port} (docs: /docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


def _check_can_listen(host: str, port: int) -> None:
    """Bind every address of ``host`` as asyncio's server will: a family the system has not
    enabled (an IPv6 ``localhost`` in a container without IPv6) is skipped, not an error."""
    try:
        bound = 0
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        ):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(address)
                except OSError as exc:
                    if exc.errno != errno.EADDRNOTAVAIL:
                        raise
                    continue
                bound += 1
        if not bound:
            raise OSError(errno.EADDRNOTAVAIL, "no address of this host can be used here")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fail(f"Cannot listen on {host}:{port}: {reason}.", code=EXIT_BAD_INPUT)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    context: Annotated[str | None, typer.Option(help="The text that holds the answer.")] = None,
    context_file: Annotated[
        Path | None, typer.Option(help="Read the context from this UTF-8 file.", exists=True)
    ] = None,
    model: Annotated[str | None, typer.Option(help="Registered model name.")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="How many answers.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer one QUESTION about a context given inline or in a file."""
    if (context is None) == (context_file is None):
        fail(
            "Give the context with exactly one of --context or --context-file.", code=EXIT_BAD_INPUT
        )
    text = context if context is not None else _read_text(context_file)
    if not question.strip() or not text.strip():
        fail("The question and the context must not be empty.", code=EXIT_BAD_INPUT)
    with cli_runtime() as runtime, runtime.sessions() as session:
        spec = registry.resolve_model(session=session, settings=runtime.settings, name=model)
        answers = runtime.answering.answer_now(spec, question, text, top_k=top_k)
    if as_json:
        rows = [
            {"answer": a.text, "score": a.score, "start": a.start, "end": a.end} for a in answers
        ]
        console.print_json(json.dumps({"model": spec.name, "answers": rows}))
        return
    for answer in answers:
        console.print(
            Text.assemble(
                answer.text,
                (f"  (score {answer.score:.3f}, chars {answer.start}-{answer.end})", "dim"),
            )
        )


def _read_text(path: Path | None) -> str:
    assert path is not None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"Cannot read {path} as UTF-8 text: {exc}", code=EXIT_BAD_INPUT)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also done at every start-up)."""
    from qaflow.db import create_db_engine, current_revision, upgrade_database

    settings = settings_from_env()
    with readable_errors():
        engine = create_db_engine(settings.resolved_database_url)
        try:
            upgrade_database(engine)
            console.print(f"Database at revision {current_revision(engine)}.")
        finally:
            engine.dispose()


@app.command("config")
def show_config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    values = settings_from_env().masked()
    if as_json:
        console.print_json(json.dumps(values, default=str))
        return
    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, f"QAFLOW_{name.upper()}", "" if value is None else str(value))
    console.print(table)


# Registered last so that `qaflow --help` lists the everyday commands first.
upload_cmd.register(app)
pipeline_cmd.register(app)
ui_cmd.register(app)
optimize_cmd.register(models_cmd.app)
app.add_typer(models_cmd.app, name="models")
app.add_typer(db_app, name="db")
eval_cmd.register(app, resolve_model=_resolve_eval_model)
train_cmd.register(app)


def main() -> None:
    app()
