"""The web app (Streamlit): a face of qaflow that talks to the API over HTTP only.

Start it with ``qaflow ui``. Importing this package does not import Streamlit.
"""

from __future__ import annotations

from pathlib import Path


def app_path() -> Path:
    """The Streamlit script of the web app, for ``streamlit run``."""
    return Path(__file__).with_name("app.py")
