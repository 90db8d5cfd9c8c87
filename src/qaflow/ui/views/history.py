"""History: stored answers between two times, filtered, charted and downloadable as CSV."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

import streamlit as st

from qaflow.services.schemas import SourceName
from qaflow.ui.client import ApiClient
from qaflow.ui.formatting import answers_frame, counts_over_time, frame_csv
from qaflow.ui.views.common import browser_timezone, timezone_name

HISTORY_LIMIT = 10_000
ALL_MODELS = "All models"
SOURCES: dict[str, SourceName | None] = {"All": None, "Online": "online", "Batch": "batch"}


def render(client: ApiClient) -> None:
    st.title("History")
    tz = browser_timezone()
    st.caption(f"Answers made between two times ({timezone_name(tz)}), oldest first.")
    names = [model.name for model in client.list_models()]
    start, end = _time_range(tz)
    model_col, source_col = st.columns([2, 1])
    model = model_col.selectbox("Model", [ALL_MODELS, *names], key="history_model")
    source_label = source_col.radio("Source", list(SOURCES), horizontal=True, key="history_source")
    if start is None or end is None:
        st.info("Choose both a start and an end time.", icon=":material/info:")
        return
    if start > end:
        st.warning("The start is after the end: no answers in between.", icon=":material/warning:")
        return
    answers = client.list_answers(
        start=start,
        end=end.replace(second=59),  # the picker has minutes: 'To' includes its whole minute
        model=None if model == ALL_MODELS else model,
        source=SOURCES[source_label or "All"],
        limit=HISTORY_LIMIT,
    )
    if not answers:
        st.info("No answers in this range.", icon=":material/info:")
        return
    if len(answers) == HISTORY_LIMIT:
        st.info(
            f"Showing the first {HISTORY_LIMIT:,} answers: narrow the range to see the rest.",
            icon=":material/info:",
        )
    frame = answers_frame(answers, tz)
    naive = [t.astimezone(tz).replace(tzinfo=None) for t in (start, end)]
    counts, bucket = counts_over_time(frame, naive[0], naive[1])
    st.subheader(f"{len(frame):,} answers, per {bucket}")
    st.bar_chart(counts, x_label=bucket, y_label="answers", height=260)
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "score": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.download_button(
        "Download CSV",
        data=frame_csv(frame),
        file_name=f"qaflow-answers-{start:%Y%m%d-%H%M}-{end:%Y%m%d-%H%M}.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def _time_range(tz: tzinfo) -> tuple[datetime | None, datetime | None]:
    """The chosen range as aware datetimes in ``tz`` (the pickers are naive, in ``tz``)."""
    now = datetime.now(tz).replace(tzinfo=None, second=0, microsecond=0)
    default_start = now - timedelta(days=1)
    default_end = datetime.combine(now.date(), time(23, 59))
    start_col, end_col = st.columns(2)
    start = start_col.datetime_input(
        "From", value=default_start, step=timedelta(minutes=1), key="history_start"
    )
    end = end_col.datetime_input(
        "To", value=default_end, step=timedelta(minutes=1), key="history_end"
    )
    return _aware(start, tz), _aware(end, tz)


def _aware(value: datetime | None, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
