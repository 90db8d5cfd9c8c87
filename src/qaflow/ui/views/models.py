"""Models: the registry's entries; add one (it must load) or delete one (not the default)."""

from __future__ import annotations

from typing import get_args

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from qaflow.errors import QaflowError
from qaflow.services.schemas import BackendName, ModelCreate
from qaflow.ui.client import ApiClient
from qaflow.ui.formatting import md_text
from qaflow.ui.views.common import default_model_name, show_error

BACKENDS: list[BackendName] = list(get_args(BackendName))
NOTICE_KEY = "models_notice"


def render(client: ApiClient) -> None:
    st.title("Models")
    st.caption(
        "Registered models answer questions by name; the default answers when none is named."
    )
    _show_notice()
    try:
        models = client.list_models()
    except QaflowError as exc:
        # The add form is still drawn, so what was typed into it survives an outage.
        show_error(exc)
        _add_form(client, set())
        return
    default = default_model_name(models)
    frame = pd.DataFrame(
        [
            {
                "name": m.name,
                "default": m.default,
                "model": m.model,
                "tokenizer": m.tokenizer,
                "backend": m.backend,
            }
            for m in models
        ],
        columns=["name", "default", "model", "tokenizer", "backend"],
    )
    if default is None:
        frame = frame.drop(columns="default")  # an API that does not say which is the default
    st.dataframe(
        frame, hide_index=True, column_config={"default": st.column_config.CheckboxColumn()}
    )
    add_col, delete_col = st.columns(2, gap="large")
    with add_col:
        _add_form(client, {m.name for m in models})
    with delete_col:
        _delete_form(client, [m.name for m in models if m.name != default], default)


def _show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(md_text(notice), icon=":material/check_circle:")


ADD_FIELDS = ("models_add_name", "models_add_model", "models_add_tokenizer")
CLEAR_KEY = "models_add_clear"


def _add_form(client: ApiClient, existing: set[str]) -> None:
    st.subheader("Add a model")
    if st.session_state.pop(CLEAR_KEY, False):
        # Only possible before the widgets exist in this run: the last add succeeded.
        for key in ADD_FIELDS:
            st.session_state[key] = ""
    with st.form("models_add", clear_on_submit=False):
        name = st.text_input("Name", key="models_add_name", placeholder="my-reader")
        model = st.text_input(
            "Model", key="models_add_model", placeholder="Hub id or local directory"
        )
        tokenizer = st.text_input(
            "Tokenizer", key="models_add_tokenizer", placeholder="Usually the same as the model"
        )
        backend = st.selectbox("Backend", BACKENDS, key="models_add_backend")
        submitted = st.form_submit_button("Add model", type="primary", icon=":material/add:")
    if not submitted:
        return
    try:
        entry = ModelCreate(
            name=name, model=model, tokenizer=tokenizer or model, backend=backend or "torch"
        )
    except ValidationError:
        st.warning("Give the model a name and say where it comes from.", icon=":material/warning:")
        return
    try:
        with st.spinner(f"Loading {entry.model}…"):
            client.add_model(entry)
    except QaflowError as exc:
        show_error(exc)
        return
    done = "updated" if entry.name in existing else "added"  # PUT replaces an entry by name
    st.session_state[NOTICE_KEY] = f"Model '{entry.name}' {done}."
    st.session_state[CLEAR_KEY] = True
    st.rerun()


def _delete_form(client: ApiClient, names: list[str], default: str | None) -> None:
    st.subheader("Delete a model")
    if default:
        st.caption(f"The default model, '{default}', cannot be deleted.")
    if not names:
        st.caption("No other model is registered.")
        return
    name = st.selectbox("Model to delete", names, key="models_delete_name")
    if not st.button("Delete model", icon=":material/delete:", disabled=name is None):
        return
    assert name is not None
    try:
        client.delete_model(name)
    except QaflowError as exc:
        show_error(exc)
        return
    st.session_state[NOTICE_KEY] = f"Model '{name}' deleted."
    st.rerun()
