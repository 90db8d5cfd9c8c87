"""The whole web app script, and `qaflow ui`'s command line."""

from __future__ import annotations

import sys

from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from qaflow.cli import app as cli_app
from qaflow.cli.ui_cmd import streamlit_command
from qaflow.ui import app_path
from tests.ui.conftest import PAGE_TIMEOUT_S, UiApi


def test_the_app_opens_on_the_ask_page_with_every_page_listed(ui_api: UiApi) -> None:
    page = AppTest.from_file(str(app_path()), default_timeout=PAGE_TIMEOUT_S).run()

    assert not page.exception
    assert [t.value for t in page.title] == ["Ask a question"]
    assert [c.value for c in page.sidebar.caption] == [f"API: {ui_api.url}"]


def test_streamlit_runs_headless_on_the_apps_script() -> None:
    command = streamlit_command(host="0.0.0.0", port=8600, max_upload_mb=50)

    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(app_path())]
    assert "--server.headless=true" in command
    assert "--server.address=0.0.0.0" in command
    assert "--server.port=8600" in command
    assert "--server.maxUploadSize=50" in command
    assert "--browser.gatherUsageStats=false" in command


def test_ui_command_is_registered() -> None:
    result = CliRunner().invoke(cli_app, ["ui", "--help"])

    assert result.exit_code == 0
    assert "--api-url" in result.output
    assert "--port" in result.output
