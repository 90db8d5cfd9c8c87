"""End-to-end support: the web app as a real ``qaflow ui`` server, driven by headless Chromium.

Chromium is Debian's (``apt-get install chromium``), launched by Playwright for Python; Playwright's
own browser downloads are never used. Without either, the tests skip (fail in CI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.support.live_server import free_port
from tests.support.require import missing_service

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_PATH = Path(os.environ.get("QAFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium; skips (fails in CI) when Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        missing_service("Playwright for Python is not installed (pip install playwright)")
    if not CHROMIUM_PATH.exists():
        missing_service(f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True
            )
        except Error as exc:
            missing_service(f"Chromium at {CHROMIUM_PATH} did not start: {exc}")
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def running_web_app(
    api_url: str, *, log_path: Path, token: str | None = None, startup_timeout_s: float = 60.0
) -> Iterator[str]:
    """Run ``qaflow ui`` (a real Streamlit server) on a free port; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "QAFLOW_API_TOKEN"}
    if token:
        env["QAFLOW_API_TOKEN"] = token
    command = [
        sys.executable,
        "-c",
        "from qaflow.cli import main; main()",
        "ui",
        "--port",
        str(port),
        "--api-url",
        api_url,
    ]
    with log_path.open("wb") as log:
        # Its own process group: the CLI and the Streamlit server it starts stop together.
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process, log_path, startup_timeout_s)
            yield url
        finally:
            _stop(process)


def _wait_healthy(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"`qaflow ui` exited: {log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"`qaflow ui` did not start: {log_path.read_text(errors='replace')}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The whole group, even if the CLI already exited: the Streamlit server may not have.
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def screenshot_dir(default: Path) -> Path:
    """Where the end-to-end tests save page screenshots: QAFLOW_SCREENSHOT_DIR, else ``default``."""
    directory = Path(os.environ.get("QAFLOW_SCREENSHOT_DIR") or default)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
