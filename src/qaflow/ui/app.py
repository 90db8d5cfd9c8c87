"""The web app's entry script: ``streamlit run`` runs this file (``qaflow ui`` does it for you).

The API's address and token come from QAFLOW_API_URL and QAFLOW_API_TOKEN.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from pydantic import ValidationError
from streamlit.navigation.page import StreamlitPage

from qaflow.config import load_settings
from qaflow.errors import QaflowError
from qaflow.ui.client import ApiClient
from qaflow.ui.formatting import md_text
from qaflow.ui.views import ask, history, lineage, models, upload
from qaflow.ui.views.common import show_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageInfo:
    title: str
    icon: str
    render: Callable[[ApiClient], None]


PAGES: dict[str, PageInfo] = {
    "ask": PageInfo("Ask", ":material/quiz:", ask.render),
    "history": PageInfo("History", ":material/history:", history.render),
    "upload": PageInfo("Upload", ":material/upload_file:", upload.render),
    "models": PageInfo("Models", ":material/model_training:", models.render),
    "lineage": PageInfo("Data & lineage", ":material/account_tree:", lineage.render),
}


@st.cache_resource(show_spinner=False)
def _shared_client(api_url: str, token: str | None) -> ApiClient:
    # One pooled client per API for the whole server: page fragments rerun after the script
    # that created them has finished, so the client must outlive a single run.
    return ApiClient(api_url, token=token)


def api_client() -> ApiClient | None:
    """The client for QAFLOW_API_URL; None (with the reason on the page) for bad settings."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        st.error(md_text(f"Invalid QAFLOW_* setting: {exc}"), icon=":material/error:")
        return None
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return _shared_client(settings.api_url, token or None)


def render_page(name: str) -> None:
    """Render one page; errors become messages on the page, never a traceback."""
    client = api_client()
    if client is None:
        return
    try:
        PAGES[name].render(client)
    except QaflowError as exc:
        show_error(exc)
    except Exception as exc:  # the last line of defence: a message, and the trace in the log
        logger.exception("page %s failed", name)
        message = md_text(f"Unexpected error ({type(exc).__name__}): {exc}")
        st.error(message, icon=":material/error:")


def _page(name: str) -> StreamlitPage:
    info = PAGES[name]

    def run() -> None:
        render_page(name)

    return st.Page(run, title=info.title, icon=info.icon, url_path=name, default=name == "ask")


def main() -> None:
    st.set_page_config(page_title="qaflow", page_icon=":material/quiz:", layout="wide")
    navigation = st.navigation([_page(name) for name in PAGES])
    with st.sidebar:
        client = api_client()
        if client is not None:
            st.caption(f"API: {client.base_url}")
    navigation.run()


if __name__ == "__main__":
    main()
