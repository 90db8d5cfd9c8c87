"""End to end: headless Chromium drives `qaflow ui` (a real Streamlit server) against a live API.

Each test saves screenshots of the pages it visits under QAFLOW_SCREENSHOT_DIR (default: a
pytest temp dir).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.browser import chromium, running_web_app, screenshot_dir
from tests.support.live_server import free_port, live_api
from tests.ui.conftest import ui_settings
from tests.ui.test_upload_page import GOOD_CSV

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.integration

CONTEXT = "The Eiffel Tower is in Paris. It was finished in 1889 and is 330 metres tall."
TIMEOUT_MS = 60_000
JOB_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[str]:
    settings = ui_settings(tmp_path_factory.mktemp("e2e-home"), tiny_model_dir)
    with live_api(settings) as url:
        yield url


@pytest.fixture(scope="module")
def web_app(
    browser: Browser, api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("e2e-ui") / "qaflow-ui.log"
    with running_web_app(api_url, log_path=log) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    context.close()


def _open(page: Page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for()


def _shoot(page: Page, shots: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def _stored_answers(api_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{api_url}/answer", params={"start": 0, "end": 2**31}, timeout=30)
    response.raise_for_status()
    return list(response.json())


def test_ask_a_question_and_see_the_answer_marked(
    page: Page, web_app: str, api_url: str, shots: Path
) -> None:
    _open(page, web_app, "Ask a question")
    page.get_by_role("textbox", name="Question", exact=True).fill("Where is the Eiffel Tower?")
    page.get_by_role("textbox", name="Context", exact=True).fill(CONTEXT)
    page.get_by_role("button", name="Answer").click()

    mark = page.locator("mark").first
    mark.wait_for()
    stored = _stored_answers(api_url)[-1]
    assert mark.inner_text() == CONTEXT[stored["start"] : stored["end"]]
    page.get_by_text("This session's answers").wait_for()
    _shoot(page, shots, "ask")


def test_upload_a_csv_and_see_its_answers(
    page: Page, web_app: str, shots: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "questions.csv"
    csv_path.write_bytes(GOOD_CSV)
    bad_path = tmp_path / "bad.csv"
    bad_path.write_bytes(b"query,text\nwho?,me\n")
    _open(page, f"{web_app}/upload", "Upload questions")

    page.locator("input[type=file]").set_input_files([str(csv_path), str(bad_path)])
    # Named apart from the file uploader's own "Upload" (browse) button; click() waits until
    # the attached files enable it.
    page.get_by_role("button", name="Send to the pipeline").click()

    page.get_by_text("bad.csv was not stored").wait_for()
    page.get_by_text("Download answers (CSV)").wait_for(timeout=JOB_TIMEOUT_MS)
    page.get_by_text("3 rows.").wait_for()
    _shoot(page, shots, "upload")


def test_add_and_delete_a_model(
    page: Page, web_app: str, shots: Path, tiny_model_dir: Path
) -> None:
    _open(page, f"{web_app}/models", "Models")
    page.get_by_role("textbox", name="Name", exact=True).fill("tiny-copy")
    page.get_by_role("textbox", name="Model", exact=True).fill(str(tiny_model_dir))
    page.get_by_role("button", name="Add model").click()
    page.get_by_text("Model 'tiny-copy' added.").wait_for()

    # The default model is not offered for deletion; the page says why.
    page.get_by_text("The default model, 'tiny', cannot be deleted.").wait_for()
    _shoot(page, shots, "models")

    _choose(page, "Model to delete", "tiny-copy")
    page.get_by_role("button", name="Delete model").click()
    page.get_by_text("Model 'tiny-copy' deleted.").wait_for()


def _choose(page: Page, label: str, option: str) -> None:
    # A click that lands while Streamlit reruns the page (after a success message) opens a
    # dropdown that the rerun closes again: open it anew until the option shows.
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    combobox = page.get_by_role("combobox", name=label)
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(4):
        combobox.click()
        try:
            choice.click(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    combobox.click()
    choice.click()  # the last try fails with Playwright's own message


def test_history_and_lineage_pages(page: Page, web_app: str, api_url: str, shots: Path) -> None:
    httpx.post(
        f"{api_url}/answer", json={"question": "How tall is it?", "context": CONTEXT}, timeout=60
    ).raise_for_status()
    _wait_for_sql(api_url)

    _open(page, f"{web_app}/history", "History")
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for()
    page.get_by_role("button", name="Download CSV").wait_for()
    _shoot(page, shots, "history")

    _open(page, f"{web_app}/lineage", "Data & lineage")
    page.locator("[data-testid='stGraphVizChart'] svg").first.wait_for()
    _shoot(page, shots, "lineage")
    page.get_by_role("tab", name="Pipeline & jobs").click()
    page.get_by_text("Pipeline question_answer, version 1").wait_for()
    _shoot(page, shots, "lineage-pipeline")


def _wait_for_sql(api_url: str) -> None:
    """Until at least one upload's answers reached SQL (an upload of this module's tests)."""
    if not httpx.get(f"{api_url}/uploads", timeout=30).json():
        httpx.post(
            f"{api_url}/upload",
            files={"file": ("questions.csv", GOOD_CSV, "text/csv")},
            timeout=60,
        ).raise_for_status()
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while True:
        commits = httpx.get(f"{api_url}/repos/question_answer/commits", timeout=30)
        if commits.status_code == 200 and any(c["egressed_at"] for c in commits.json()):
            return
        assert time.monotonic() < deadline, "no answers reached SQL in time"
        time.sleep(0.5)


def test_api_down_shows_a_readable_message(
    browser: Browser, page: Page, shots: Path, tmp_path: Path
) -> None:
    stopped = f"http://127.0.0.1:{free_port()}"
    with running_web_app(stopped, log_path=tmp_path / "qaflow-ui.log") as url:
        _open(page, url, "Ask a question")
        page.get_by_text(f"Cannot reach the qaflow API at {stopped}").wait_for()
        assert page.get_by_text("Traceback").count() == 0
        _shoot(page, shots, "api-down")
