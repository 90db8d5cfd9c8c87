"""A throwaway PostgreSQL server for the test session, started from the local binaries.

initdb refuses to run as root, so when the suite runs as root (CI) the server commands run as
the ``postgres`` user. The cluster lives in a temp dir, trusts local connections, skips fsync,
and is stopped with ``pg_ctl -m immediate`` when the context ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "postgres"
START_ATTEMPTS = 3


class PostgresUnavailableError(Exception):
    """PostgreSQL could not be found or started here; the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server reachable over TCP on 127.0.0.1 as the trusted superuser."""

    host: str
    port: int
    user: str
    startup_seconds: float

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        from psycopg import sql

        with self._admin_connection() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self._admin_connection() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )


def find_binaries() -> Path:
    """The directory holding both initdb and pg_ctl: PATH first, then Debian's layout."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian_dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: [
            int(part) for part in Path(path).parent.name.split(".") if part.isdigit()
        ],
        reverse=True,
    )
    candidates += [Path(path) for path in debian_dirs]
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PostgresUnavailableError("PostgreSQL server binaries (initdb, pg_ctl) not found")


def _command_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError("running as root but `runuser` is missing")
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailableError("running as root but there is no `postgres` user") from exc
    return [runuser, "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: list[str], what: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()[-2000:]
        raise PostgresUnavailableError(f"{what} failed (exit {completed.returncode}): {output}")


def _start(prefix: list[str], bin_dir: Path, data_dir: Path, socket_dir: Path) -> int:
    log_file = data_dir.parent / "server.log"
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        options = (
            f"-p {port} -h 127.0.0.1 -k {socket_dir} -F "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        command = [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file)]
        try:
            _run([*prefix, *command, "-w", "-t", "60", "-o", options, "start"], "pg_ctl start")
            return port
        except PostgresUnavailableError:
            # Most likely another process took the port in between; retry on a new one.
            if attempt == START_ATTEMPTS:
                log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
                raise PostgresUnavailableError(
                    f"PostgreSQL did not start; server log:\n{log}"
                ) from None
    raise AssertionError("unreachable")


def _wait_ready(port: int, deadline_s: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres").close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailableError(
                    f"PostgreSQL not accepting connections: {exc}"
                ) from exc
            time.sleep(0.1)


# Stops the server and removes its files once the test process is gone, however it ended
# (a SIGKILL or a `timeout` skips pytest's teardown).
_WATCHDOG = """
parent=$1 root=$2; shift 2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$root"
"""


def _start_watchdog(root: Path, stop_command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sh", "-c", _WATCHDOG, "watchdog", str(os.getpid()), str(root), *stop_command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh PostgreSQL cluster for the duration of the ``with`` block."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailableError(
            "psycopg is not installed (pip install qaflow[postgres])"
        ) from exc
    bin_dir = find_binaries()
    prefix = _command_prefix()
    began = time.monotonic()
    # Not under pytest's tmp dir: that is private to root, and the server may run as postgres.
    root = Path(tempfile.mkdtemp(prefix="qaflow-pg-"))
    data_dir, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    if prefix:
        shutil.chown(root, user="postgres")
        shutil.chown(socket_dir, user="postgres")
    stop_command = [
        *prefix,
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data_dir),
        "-m",
        "immediate",
        "stop",
    ]
    watchdog = _start_watchdog(root, stop_command)
    try:
        _run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )  # fmt: skip
        port = _start(prefix, bin_dir, data_dir, socket_dir)
        _wait_ready(port)
        yield PostgresServer("127.0.0.1", port, SUPERUSER, time.monotonic() - began)
    finally:
        if (data_dir / "postmaster.pid").exists():
            subprocess.run(stop_command, capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)
        watchdog.terminate()
        watchdog.wait(timeout=10)
