"""The web app's pure helpers: highlighting, tables, time buckets, provenance graphs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from qaflow.services.pipeline_schemas import CommitDetail, CommitFilePublic, JobPublic
from qaflow.services.schemas import AnswerPublic
from qaflow.ui.formatting import (
    JobChain,
    Provenance,
    answers_frame,
    counts_over_time,
    duration_text,
    frame_csv,
    highlight_answer_html,
    md_text,
    provenance_dot,
    results_frame,
    uploads_in,
)

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _answer(model: str, at: datetime, question: str = "q") -> AnswerPublic:
    return AnswerPublic(
        timestamp=int(at.timestamp()),
        model=model,
        answer="a",
        question=question,
        context="ctx",
        score=0.5,
        start=0,
        end=1,
        created_at=at,
    )


def test_highlight_marks_the_span_and_escapes_everything() -> None:
    html = highlight_answer_html("a <i>b</i> & c", 2, 10)

    assert ">&lt;i&gt;b&lt;/i&gt;</mark> &amp; c</div>" in html
    assert html.count("<mark") == 1
    assert "<i>" not in html


@pytest.mark.parametrize(("start", "end"), [(None, None), (-1, 2), (3, 2), (0, 99)])
def test_highlight_leaves_bad_offsets_unmarked(start: int | None, end: int | None) -> None:
    html = highlight_answer_html("short <b>", start, end)

    assert "<mark" not in html
    assert "short &lt;b&gt;" in html


def test_md_text_shows_markdown_and_math_literally() -> None:
    assert md_text("col_a *b* <token> $5") == r"col\_a \*b\* \<token\> \$5"


def test_answers_frame_round_trips_through_csv() -> None:
    frame = answers_frame([_answer("tiny", T0, question='with "quotes", commas')], UTC)

    back = pd.read_csv(io.BytesIO(frame_csv(frame)))
    assert back.loc[0, "question"] == 'with "quotes", commas'
    assert back.loc[0, "time"] == "2026-05-04 10:00:00"
    assert list(back.columns[:3]) == ["time", "model", "source"]


def test_counts_fill_every_bucket_of_the_range_per_model() -> None:
    answers = [
        _answer("a", T0 + timedelta(minutes=5)),
        _answer("a", T0 + timedelta(minutes=50)),
        _answer("b", T0 + timedelta(hours=2, minutes=1)),
    ]
    frame = answers_frame(answers, UTC)
    start = datetime(2026, 5, 4, 9, 30)

    counts, label = counts_over_time(frame, start, start + timedelta(hours=5))

    assert label == "hour"
    assert list(counts.index) == list(pd.date_range("2026-05-04 09:00", periods=6, freq="1h"))
    assert counts["a"].tolist() == [0, 2, 0, 0, 0, 0]
    assert counts["b"].tolist() == [0, 0, 0, 1, 0, 0]


def test_counts_of_no_answers_is_an_empty_axis() -> None:
    start = datetime(2026, 5, 4)
    counts, label = counts_over_time(answers_frame([], UTC), start, start + timedelta(days=30))

    assert label == "day"
    assert len(counts) == 31
    assert counts.columns.empty


def test_durations() -> None:
    assert duration_text(None, None) == ""
    assert duration_text(T0, T0 + timedelta(seconds=1.25)) == "1.2 s"
    assert duration_text(T0, T0 + timedelta(seconds=125)) == "2 min 5 s"
    assert duration_text(T0, None, T0 + timedelta(hours=2, minutes=3)) == "2 h 3 min (running)"


def test_md_text_leaves_web_addresses_whole() -> None:
    text = "See https://hf.co/docs/inst_all#offline-mode. Or (http://a.b/c_d), #1 *not* bold."

    assert md_text(text) == (
        r"See https://hf.co/docs/inst_all#offline-mode. Or (http://a.b/c_d), \#1 \*not\* bold."
    )


def _model_row(**extra: str) -> dict[str, object]:
    """One row as the API sends it: the model's answer, and the upload's own columns."""
    return {
        "row_index": 0,
        "question": "q",
        "context": "c",
        "answer": "model's",
        "score": 0.5,
        "start": 0,
        "end": 1,
        "error": None,
        "extra": extra,
    }


def test_results_frame_prefixes_result_columns_the_upload_also_has() -> None:
    frame = results_frame([_model_row(answer="gold", score="1")])

    assert list(frame.columns) == [
        "row_index",
        "answer",
        "score",
        "question",
        "context",
        "qaflow_answer",
        "qaflow_score",
        "start",
        "end",
        "error",
    ]
    assert frame.loc[0, "answer"] == "gold"
    assert frame.loc[0, "qaflow_answer"] == "model's"


def test_results_frame_never_repeats_a_column_name() -> None:
    frame = results_frame([_model_row(row_index="9", Answer="gold", qaflow_answer="other")])

    assert frame.columns.is_unique
    assert list(frame.columns[:4]) == ["qaflow_row_index", "row_index", "Answer", "qaflow_answer"]
    assert frame.loc[0, "qaflow_qaflow_answer"] == "model's"


def test_results_frame_puts_the_uploads_columns_after_the_row_number() -> None:
    rows = [
        {
            "row_index": 0,
            "question": "q",
            "context": "c",
            "answer": "a",
            "score": 0.5,
            "start": 0,
            "end": 1,
            "error": None,
            "extra": {"id": "7", "lang": "en"},
        },
    ]
    frame = results_frame(rows)

    assert list(frame.columns) == [
        "row_index", "id", "lang", "question", "context", "answer", "score", "start", "end",
        "error",
    ]  # fmt: skip
    assert frame.loc[0, "lang"] == "en"


def test_uploads_in_reads_upload_ids_from_repo_paths() -> None:
    assert uploads_in(["u1/a.csv", "u2/dir/b.csv", "loose.csv"]) == [
        ("u1", "a.csv"),
        ("u2", "dir/b.csv"),
        ("", "loose.csv"),
    ]


def _commit(commit_id: str, repo: str, seq: int, origin: str, **extra: object) -> CommitDetail:
    fields: dict[str, object] = {
        "id": commit_id,
        "repo": repo,
        "seq": seq,
        "parent_id": None,
        "origin": origin,
        "message": None,
        "created_at": T0,
        "input_commit_id": None,
        "job_id": None,
        "pipeline_version_id": None,
        "egressed_at": None,
        "files": [],
    }
    fields.update(extra)
    return CommitDetail.model_validate(fields)


def _job(job_id: str, output: str | None) -> JobPublic:
    return JobPublic(
        id=job_id, pipeline="question_answer", pipeline_version=2, input_commit_id="in1",
        scope="changes", state="done", total=1, processed=1, skipped=0, failed=0, progress=1.0,
        output_commit_id=output, error=None, worker_id=None, heartbeat_at=None, created_at=T0,
        started_at=T0, finished_at=T0 + timedelta(seconds=3),
    )  # fmt: skip


def test_provenance_graph_runs_upload_input_job_output_sql() -> None:
    source = _commit(
        "in1", "uploads", 1, "upload",
        files=[CommitFilePublic(path='u1/we "quote".csv', op="put", blob_sha256=None, size=1)],
    )  # fmt: skip
    output = _commit(
        "out1", "question_answer", 1, "pipeline", model="tiny", job_id="job1", egressed_at=T0
    )
    provenance = Provenance(
        selected_id="out1",
        input_commit=source,
        input_files=[f.path for f in source.files],
        chains=[JobChain(_job("job1", "out1"), output)],
    )

    dot = provenance_dot(provenance)

    edges = [line.strip() for line in dot.splitlines() if "->" in line]
    assert edges == [
        '"upload:u1/we \\"quote\\".csv" -> "commit:in1";',
        '"commit:in1" -> "job:job1";',
        '"job:job1" -> "commit:out1";',
        '"commit:out1" -> "sql:out1";',
    ]
    assert "question_answer v2\\nmodel tiny\\ndone, 3.0 s" in dot
    selected = next(line for line in dot.splitlines() if line.strip().startswith('"commit:out1" ['))
    assert "penwidth" in selected


def test_provenance_of_an_input_without_jobs_yet_is_upload_to_commit() -> None:
    source = _commit("in1", "uploads", 1, "upload")
    provenance = Provenance("in1", source, ["u1/a.csv"], chains=[])

    edges = [line.strip() for line in provenance_dot(provenance).splitlines() if "->" in line]

    assert edges == ['"upload:u1/a.csv" -> "commit:in1";']
