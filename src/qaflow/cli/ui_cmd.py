"""``qaflow ui``: run the web app (a Streamlit server) against a qaflow API."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from types import FrameType
from typing import Annotated

import typer

from qaflow.cli._common import EXIT_BAD_INPUT, console, fail, settings_from_env
from qaflow.ui import app_path


def streamlit_command(*, host: str, port: int, max_upload_mb: int) -> list[str]:
    """The ``streamlit run`` command line of the web app, headless and without telemetry."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        f"--server.maxUploadSize={max_upload_mb}",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        # Tracebacks stay in the server log; the pages show readable messages.
        "--client.showErrorDetails=none",
    ]


def ui(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port of the web app.")] = 8501,
    api_url: Annotated[
        str | None,
        typer.Option(help="Where the qaflow API runs. Default: QAFLOW_API_URL."),
    ] = None,
    max_upload_mb: Annotated[
        int,
        typer.Option(min=1, help="Largest CSV the page accepts, in MB (bigger: `qaflow upload`)."),
    ] = 200,
) -> None:
    """Run the web app: ask, browse the history, upload CSVs, manage models, see lineage."""
    if importlib.util.find_spec("streamlit") is None:
        fail("The web app needs Streamlit: pip install 'qaflow[ui]'.", code=EXIT_BAD_INPUT)
    settings = settings_from_env()
    env = dict(os.environ)
    env["QAFLOW_API_URL"] = api_url or settings.api_url
    if settings.api_token is not None:
        env["QAFLOW_API_TOKEN"] = settings.api_token.get_secret_value()
    console.print(
        f"qaflow web app on http://{host}:{port} (API: {env['QAFLOW_API_URL']}); Ctrl+C stops it."
    )
    command = streamlit_command(host=host, port=port, max_upload_mb=max_upload_mb)
    raise typer.Exit(_run_forwarding_signals(command, env))


def _run_forwarding_signals(command: list[str], env: dict[str, str]) -> int:
    """Run the server until it exits; SIGTERM to this process is passed on, not orphaning it."""
    process = subprocess.Popen(command, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                # Ctrl+C reached the server too (same process group): wait for it to stop.
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
