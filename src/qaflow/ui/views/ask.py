"""Ask: one question about one context, the answer marked inside the context."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from qaflow.errors import QaflowError
from qaflow.services.schemas import AnswerPublic
from qaflow.ui.client import ApiClient
from qaflow.ui.formatting import highlight_answer_html
from qaflow.ui.views.common import (
    API_DEFAULT,
    browser_timezone,
    chosen_model,
    model_choices,
    model_label,
    show_error,
)

HISTORY_KEY = "ask_answers"
MODEL_KEY = "ask_model"
OFFERED_KEY = "ask_models_offered"
HISTORY_SHOWN = 20


def render(client: ApiClient) -> None:
    st.title("Ask a question")
    st.caption("The answer is a span of the context; it is marked where the model found it.")
    choices, listed = _model_options(client)
    answers: list[AnswerPublic] = st.session_state.setdefault(HISTORY_KEY, [])
    with st.form("ask_form"):
        question = st.text_input("Question", key="ask_question")
        context = st.text_area(
            "Context",
            height=160,
            key="ask_context",
            placeholder="Paste the text that holds the answer.",
        )
        model = st.selectbox(
            "Model",
            choices,
            format_func=lambda name: (
                model_label(name) + ("" if name in listed else " (no longer listed)")
            ),
            key=MODEL_KEY,
        )
        submitted = st.form_submit_button("Answer", type="primary", icon=":material/send:")
    answered = submitted and _ask(client, question, context, model)
    # After a failed attempt only its message shows, not an older answer that looks like its.
    if answers and (answered or not submitted):
        _show_answer(answers[0])
    if answers:
        _show_session_answers(answers)


def _model_options(client: ApiClient) -> tuple[list[str], set[str]]:
    """The models to offer, and those of them the API lists now.

    The form is drawn even when the API cannot list them, so what was typed survives an outage
    (Streamlit drops the state of widgets a run does not draw). Options never shrink within a
    session: a model deleted after it was chosen stays chosen, and asking with it says it is
    gone, where the box falling back to its first option would answer with another model.
    """
    offered: list[str] = st.session_state.setdefault(OFFERED_KEY, [])
    try:
        listed = model_choices(client.list_models())
    except QaflowError as exc:
        show_error(exc)
        # Unknown now, not gone: nothing is marked as no longer listed.
        fallback = offered or [API_DEFAULT]
        return fallback, set(fallback)
    choices = [*listed, *(name for name in offered if name not in listed)]
    st.session_state[OFFERED_KEY] = choices
    return choices, set(listed)


def _ask(client: ApiClient, question: str, context: str, model: str | None) -> bool:
    if not question.strip() or not context.strip():
        st.warning("Enter both a question and a context.", icon=":material/warning:")
        return False
    try:
        with st.spinner("Answering…"):
            answer = client.answer(question, context, model=chosen_model(model))
    except QaflowError as exc:
        show_error(exc)
        return False
    st.session_state[HISTORY_KEY].insert(0, answer)
    return True


def _show_answer(answer: AnswerPublic) -> None:
    st.subheader("Answer")
    text = answer.answer.strip() or "(no answer found in the context)"
    score = "n/a" if answer.score is None else f"{answer.score:.3f}"
    st.html(
        '<div class="qaflow-answer" style="font-size:1.35em;font-weight:600;margin-bottom:.2em">'
        f"{html.escape(text)}</div>"
        f'<div style="opacity:.75">score {score} · model {html.escape(answer.model)}'
        f" · characters {answer.start} to {answer.end}</div>"
    )
    st.html(highlight_answer_html(answer.context, answer.start, answer.end))


def _show_session_answers(answers: list[AnswerPublic]) -> None:
    st.subheader("This session's answers")
    tz = browser_timezone()
    frame = pd.DataFrame(
        [
            {
                "time": a.created_at.astimezone(tz).strftime("%H:%M:%S"),
                "question": a.question,
                "answer": a.answer,
                "score": a.score,
                "model": a.model,
            }
            for a in answers[:HISTORY_SHOWN]
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"score": st.column_config.NumberColumn(format="%.3f")},
    )
