"""Upload: CSVs of question/context rows, the pipeline's live progress, then the answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from qaflow.errors import QaflowError
from qaflow.services.pipeline_schemas import UploadStatus
from qaflow.services.upload_schemas import UploadWithStatus
from qaflow.ui.client import ApiClient
from qaflow.ui.formatting import md_text, results_frame, short_id
from qaflow.ui.views.common import browser_timezone, show_error
from qaflow.wording import plural

TRACKED_KEY = "upload_tracked"  # upload ids of this session, newest first
RESULTS_KEY = "upload_results_choice"
NOTICES_KEY = "upload_notices"  # the outcome of the last "Upload" click
UPLOADER_KEY = "upload_uploader_round"
POLLING_KEY = "upload_polling"
POLL_S = 1.0
TRACKED_SHOWN = 10
PREVIEW_ROWS = 1000
EARLIER_SHOWN = 20
STATE_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/autorenew:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
}


@dataclass(frozen=True)
class Notice:
    filename: str
    ok: bool
    text: str


def render(client: ApiClient) -> None:
    st.title("Upload questions")
    st.caption(
        "CSV files whose header names a `question` and a `context` column (other columns are "
        "kept with the answers). The `question_answer` pipeline answers every row."
    )
    tracked: list[str] = st.session_state.setdefault(TRACKED_KEY, [])
    _upload_form(client, tracked)
    uploads = client.list_uploads(limit=EARLIER_SHOWN)
    # Uploads still in work are followed too, whoever made them and however the page was
    # opened (a reload starts a new session with nothing tracked).
    for upload in reversed(uploads):
        if not finished(upload) and upload.id not in tracked:
            tracked.insert(0, upload.id)
    if tracked:
        _progress(client, tracked[:TRACKED_SHOWN])
    _results(client, tracked, uploads)
    _earlier_uploads(uploads)


def finished(status: UploadStatus) -> bool:
    return status.state in ("done", "failed")


def _upload_form(client: ApiClient, tracked: list[str]) -> None:
    round_ = st.session_state.setdefault(UPLOADER_KEY, 0)
    # Any name: the API reads the content as CSV and says what is wrong with it.
    files = st.file_uploader("CSV files", accept_multiple_files=True, key=f"upload_files_{round_}")
    if st.button(
        "Send to the pipeline", type="primary", icon=":material/upload:", disabled=not files
    ):
        notices = [_upload_one(client, file.name, file.getvalue(), tracked) for file in files]
        st.session_state[NOTICES_KEY] = notices
        st.session_state[POLLING_KEY] = True
        if any(notice.ok for notice in notices):
            # The results follow the newest upload; the box is drawn later in this run.
            st.session_state[RESULTS_KEY] = tracked[0]
        # A fresh, empty uploader: a second click must not store the same files again.
        st.session_state[UPLOADER_KEY] = round_ + 1
        st.rerun()
    for notice in st.session_state.get(NOTICES_KEY, []):
        name = md_text(notice.filename)
        if notice.ok:
            st.success(f"**{name}**: {md_text(notice.text)}", icon=":material/check_circle:")
        else:
            st.error(f"**{name}** was not stored: {md_text(notice.text)}", icon=":material/error:")


def _upload_one(client: ApiClient, filename: str, content: bytes, tracked: list[str]) -> Notice:
    try:
        receipt = client.upload(filename, content)
    except QaflowError as exc:
        return Notice(filename, False, exc.message)
    tracked.insert(0, receipt.upload_id)
    rows = "" if receipt.rows is None else f"{plural(receipt.rows, 'row')}, "
    stored_as = "" if receipt.filename in (None, filename) else f" as {receipt.filename}"
    return Notice(
        filename, True, f"stored{stored_as} ({rows}upload {short_id(receipt.upload_id)})."
    )


def _progress(client: ApiClient, tracked: list[str]) -> None:
    st.subheader("Progress")
    polling = bool(st.session_state.get(POLLING_KEY, True))

    @st.fragment(run_every=POLL_S if polling else None)
    def live() -> None:
        # A timed rerun of this fragment is outside the page's error handling.
        try:
            listed = client.list_uploads(limit=EARLIER_SHOWN)
        except QaflowError as exc:
            show_error(exc)
            if polling:
                st.caption("Trying again every second.")
            return
        statuses = _statuses(client, tracked, listed)
        for upload_id in tracked:
            status = statuses[upload_id]
            if isinstance(status, UploadStatus):
                _progress_row(status)
            else:
                st.warning(
                    f"Upload {short_id(upload_id)}: {md_text(status)}", icon=":material/warning:"
                )
        running = any(isinstance(s, UploadStatus) and not finished(s) for s in statuses.values())
        if running != polling:
            st.session_state[POLLING_KEY] = running
            st.rerun()  # the whole page: the results show, and the polling stops

    live()


def _statuses(
    client: ApiClient, upload_ids: list[str], listed: list[UploadWithStatus]
) -> dict[str, UploadStatus | str]:
    """Each upload's status, or why it could not be read.

    The newest uploads' statuses come with the list; only an upload that others' newer uploads
    pushed off it is asked for on its own.
    """
    statuses: dict[str, UploadStatus | str] = {u.id: u for u in listed if u.id in upload_ids}
    for upload_id in upload_ids:
        if upload_id not in statuses:
            statuses[upload_id] = _status_or_reason(client, upload_id)
    return statuses


def _status_or_reason(client: ApiClient, upload_id: str) -> UploadStatus | str:
    try:
        return client.upload_status(upload_id)
    except QaflowError as exc:
        return exc.message


def _progress_row(status: UploadStatus) -> None:
    label = f"{STATE_ICONS.get(status.state, '')} **{md_text(status.filename)}** — {status.state}"
    st.progress(min(max(status.progress, 0.0), 1.0), text=f"{label} ({_counts_text(status)})")
    for error in status.errors[:5]:
        st.caption(f":material/warning: {md_text(error)}")


def _counts_text(status: UploadStatus) -> str:
    parts = [plural(status.rows, "row"), f"{status.datums_done}/{status.datums_total} shards"]
    if status.datums_failed:
        parts.append(f"{plural(status.datums_failed, 'shard')} failed")
    if status.error_rows:
        parts.append(f"{plural(status.error_rows, 'row')} with an error")
    if status.egressed:
        parts.append("in SQL")
    return ", ".join(parts)


def _results(client: ApiClient, tracked: list[str], uploads: list[UploadWithStatus]) -> None:
    st.subheader("Results")
    names = {u.id: f"{u.filename} · {plural(u.rows, 'row')} · {short_id(u.id)}" for u in uploads}
    choices = list(dict.fromkeys([*tracked, *names]))
    if not choices:
        st.info("No uploads yet.", icon=":material/info:")
        return
    chosen = st.selectbox(
        "Upload",
        choices,
        format_func=lambda upload_id: names.get(upload_id, short_id(upload_id)),
        key=RESULTS_KEY,
    )
    if chosen is None:
        return
    try:
        listed = {u.id: u for u in uploads}
        status = listed[chosen] if chosen in listed else client.upload_status(chosen)
        if status.state == "failed":
            reasons = "; ".join(status.errors[:3])
            st.error(md_text(f"The pipeline failed on this upload. {reasons}".strip()))
        if not finished(status):
            st.info(f"The answers show here once the pipeline is done (now: {status.state}).")
            return
        _answers_table(client, chosen)
    except QaflowError as exc:
        show_error(exc)


def _answers_table(client: ApiClient, upload_id: str) -> None:
    page = client.upload_answers(upload_id, limit=PREVIEW_ROWS)
    frame = results_frame(page.rows[:PREVIEW_ROWS])
    st.caption(
        plural(page.total, "row")
        + (
            f"; the first {PREVIEW_ROWS:,} are shown, the download has all."
            if page.total > PREVIEW_ROWS
            else "."
        )
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"score": st.column_config.NumberColumn(format="%.3f")},
    )
    st.download_button(
        "Download answers (CSV)",
        data=_csv_download(client, upload_id),
        file_name=f"qaflow-answers-{upload_id}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"upload_download_{upload_id}",
    )


def _csv_download(client: ApiClient, upload_id: str) -> Callable[[], bytes]:
    # Fetched when clicked, not on every refresh of the page. A failure must not be saved as
    # the file: raising makes Streamlit report that the download failed instead.
    def fetch() -> bytes:
        return client.upload_answers_csv(upload_id)

    return fetch


def _earlier_uploads(uploads: list[UploadWithStatus]) -> None:
    st.subheader("Earlier uploads")
    if not uploads:
        st.info("No uploads yet.", icon=":material/info:")
        return
    tz = browser_timezone()
    frame = pd.DataFrame(
        [
            {
                "uploaded": u.created_at.astimezone(tz).replace(tzinfo=None),
                "file": u.filename,
                "rows": u.rows,
                "state": u.state,
                "origin": u.origin,
                "upload": u.id,
                "commit": short_id(u.commit_id),
            }
            for u in uploads
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"uploaded": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
