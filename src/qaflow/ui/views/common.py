"""What every page shares: readable errors and the browser's time zone."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from qaflow.errors import QaflowError
from qaflow.ui.formatting import md_text
from qaflow.ui.shapes import ModelView

API_DEFAULT = ""  # a choice meaning "the API's default model" (names are never empty)
API_DEFAULT_LABEL = "Default model"


def show_error(exc: QaflowError) -> None:
    st.error(md_text(exc.message), icon=":material/error:")


def browser_timezone() -> tzinfo:
    """The viewer's time zone as the browser reports it; UTC when unknown."""
    name = st.context.timezone
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def timezone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def default_model_name(models: list[ModelView]) -> str | None:
    return next((m.name for m in models if m.default), None)


def model_choices(models: list[ModelView]) -> list[str]:
    """Model names, the default first; API_DEFAULT (the API picks) first when the API does not
    say which model is its default."""
    default = default_model_name(models)
    names = [m.name for m in models]
    if default is None:
        return [API_DEFAULT, *names]
    return [default, *(name for name in names if name != default)]


def model_label(choice: str) -> str:
    return API_DEFAULT_LABEL if choice == API_DEFAULT else choice


def chosen_model(choice: str | None) -> str | None:
    """The model name to send; None lets the API use its default."""
    return None if choice in (None, API_DEFAULT) else choice
