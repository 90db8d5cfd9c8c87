"""Pure helpers of the web app: HTML highlighting, tables, time buckets, provenance graphs.

Nothing here touches Streamlit, so it is tested directly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pandas as pd

from qaflow.services.pipeline_schemas import CommitDetail, CommitPublic, JobPublic
from qaflow.services.schemas import AnswerPublic
from qaflow.wording import unique_names

MARK_STYLE = "background:#ffe08a;padding:0 .15em;border-radius:.2em;font-weight:600"
CONTEXT_STYLE = (
    "white-space:pre-wrap;line-height:1.6;max-height:22em;overflow-y:auto;"
    "padding:.75em 1em;border:1px solid rgba(128,128,128,.35);border-radius:.5em"
)


# Characters Markdown (and Streamlit's $...$ math) would interpret in text from the API.
_MARKDOWN_SPECIALS = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>#|$~"})
# An address ends before white space, quotes, brackets and trailing punctuation.
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]]*[^\s<>\"'`()\[\].,;:!?]")


def md_text(text: str) -> str:
    """``text`` escaped to show literally inside Streamlit Markdown; web addresses in it stay
    links (escaping inside one would change where it leads)."""
    parts = []
    last = 0
    for match in _URL.finditer(text):
        parts.append(text[last : match.start()].translate(_MARKDOWN_SPECIALS))
        parts.append(match.group())  # Streamlit's Markdown (GFM) links a bare address itself
        last = match.end()
    parts.append(text[last:].translate(_MARKDOWN_SPECIALS))
    return "".join(parts)


def highlight_answer_html(context: str, start: int | None, end: int | None) -> str:
    """The context as escaped HTML with ``context[start:end]`` inside a <mark>.

    Offsets outside the context leave it unmarked rather than marking the wrong text.
    """
    if start is None or end is None or not 0 <= start <= end <= len(context):
        body = html.escape(context)
    else:
        body = (
            html.escape(context[:start])
            + f'<mark style="{MARK_STYLE}">{html.escape(context[start:end])}</mark>'
            + html.escape(context[end:])
        )
    return f'<div class="qaflow-context" style="{CONTEXT_STYLE}">{body}</div>'


def answers_frame(answers: Sequence[AnswerPublic], tz: tzinfo) -> pd.DataFrame:
    """One row per answer, newest last, its time shown in ``tz``."""
    rows = [
        {
            "time": datetime.fromtimestamp(a.timestamp, tz).replace(tzinfo=None),
            "model": a.model,
            "source": a.source,
            "question": a.question,
            "answer": a.answer,
            "score": a.score,
            "start": a.start,
            "end": a.end,
            "error": a.error,
            "upload_id": a.upload_id,
            "job_id": a.job_id,
            "context": a.context,
        }
        for a in answers
    ]
    columns = [
        "time",
        "model",
        "source",
        "question",
        "answer",
        "score",
        "start",
        "end",
        "error",
        "upload_id",
        "job_id",
        "context",
    ]
    return pd.DataFrame(rows, columns=columns)


RESULT_COLUMNS = ["question", "context", "answer", "score", "start", "end", "error"]
RESULT_PREFIX = "qaflow_"


def results_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """An upload's answers as the API sends them (JSON rows): the row number, the upload's own
    columns (``extra``), then the question, context and answer."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return frame
    extra = pd.json_normalize([row.get("extra") or {} for row in rows])
    known = [c for c in ["row_index", *RESULT_COLUMNS] if c in frame.columns]
    # As in the CSV download: a result column whose name the upload uses (any case) gets a
    # prefix, as often as it takes to be unique; duplicate names would break the table.
    names = unique_names(known, map(str, extra.columns), RESULT_PREFIX)
    ours = frame[known].rename(columns=dict(zip(known, names, strict=True)))
    return pd.concat([ours.iloc[:, :1], extra, ours.iloc[:, 1:]], axis=1)


def frame_csv(frame: pd.DataFrame) -> bytes:
    text: str = frame.to_csv(index=False)
    return text.encode("utf-8")


def bucket_size(span: timedelta) -> tuple[str, str]:
    """A pandas frequency and its label that give a readable number of points over ``span``."""
    if span <= timedelta(hours=3):
        return "1min", "minute"
    if span <= timedelta(days=3):
        return "1h", "hour"
    if span <= timedelta(days=120):
        return "1D", "day"
    return "7D", "week"


def counts_over_time(
    frame: pd.DataFrame, start: datetime, end: datetime
) -> tuple[pd.DataFrame, str]:
    """Answers per time bucket (rows, every bucket from ``start`` to ``end``) and model
    (columns); the bucket's label. ``start``, ``end`` and the frame's times are naive, in one
    time zone."""
    freq, label = bucket_size(end - start)
    buckets = pd.date_range(pd.Timestamp(start).floor(freq), pd.Timestamp(end), freq=freq)
    if frame.empty:
        counts = pd.DataFrame(index=buckets)
    else:
        counts = (
            frame.assign(bucket=frame["time"].dt.floor(freq))
            .groupby(["bucket", "model"])
            .size()
            .unstack("model", fill_value=0)
            .reindex(buckets, fill_value=0)
        )
    counts.index.name = label
    return counts, label


def short_id(value: str | None, length: int = 8) -> str:
    return "" if not value else value[:length]


def duration_text(
    started: datetime | None, finished: datetime | None, now: datetime | None = None
) -> str:
    """'1 min 5 s', or the time so far with '(running)', or '' before a start."""
    if started is None:
        return ""
    end = finished or now
    if end is None:
        return ""
    seconds = max((end - started).total_seconds(), 0.0)
    text = _seconds_text(seconds)
    return text if finished else f"{text} (running)"


def _seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass(frozen=True)
class JobChain:
    """A job over the input commit and the output commit it wrote (None until it finishes)."""

    job: JobPublic
    output: CommitDetail | None


@dataclass(frozen=True)
class Provenance:
    """What a commit came from and what came of it: uploads -> input -> jobs -> outputs."""

    selected_id: str
    input_commit: CommitPublic | None
    input_files: list[str]
    chains: list[JobChain]


def uploads_in(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(upload id, file name) of the uploads repo paths ``<upload id>/<file name>``."""
    pairs = []
    for path in paths:
        upload_id, sep, filename = path.partition("/")
        pairs.append((upload_id, filename) if sep else ("", path))
    return pairs


def provenance_dot(provenance: Provenance, now: datetime | None = None) -> str:
    """Graphviz DOT of a commit's lineage: upload -> input commit -> job -> output -> SQL."""
    graph = _Dot(provenance.selected_id)
    sources: list[str] = []
    for upload_id, filename in uploads_in(provenance.input_files):
        label = _dot_label("upload", filename, short_id(upload_id))
        sources.append(graph.node(f"upload:{upload_id}/{filename}", label, "note", "#e8f0fe"))
    if provenance.input_commit is not None:
        commit = provenance.input_commit
        key = graph.commit(commit, "#e6f4ea")
        graph.edges(sources, key)
        sources = [key]
    for chain in provenance.chains:
        _chain(graph, chain, sources, now)
    return graph.render()


def _chain(graph: _Dot, chain: JobChain, sources: list[str], now: datetime | None) -> None:
    job = chain.job
    took = duration_text(job.started_at, job.finished_at, now)
    model = chain.output.model if chain.output and chain.output.model else ""
    label = _dot_label(
        f"job {short_id(job.id)}",
        f"{job.pipeline} v{job.pipeline_version}",
        f"model {model}" if model else "",
        f"{job.state}{', ' + took if took else ''}",
    )
    key = graph.node(f"job:{job.id}", label, "ellipse", "#fef7e0")
    graph.edges(sources, key)
    if chain.output is None:
        return
    output = graph.commit(chain.output, "#e6f4ea")
    graph.edges([key], output)
    if chain.output.egressed_at is not None:
        sql = graph.node(
            f"sql:{chain.output.id}", _dot_label("SQL table", "answers"), "cylinder", "#f3e8fd"
        )
    else:
        sql = graph.node(
            f"sql:{chain.output.id}", "not yet in SQL", "cylinder", "#ffffff", dashed=True
        )
    graph.edges([output], sql)


class _Dot:
    def __init__(self, selected_id: str) -> None:
        self._selected = f"commit:{selected_id}"
        self._nodes: dict[str, str] = {}
        self._edges: list[str] = []

    def node(self, key: str, label: str, shape: str, fill: str, *, dashed: bool = False) -> str:
        style = "dashed,rounded" if dashed else "filled,rounded"
        extra = ', penwidth=2.5, color="#1a73e8"' if key == self._selected else ""
        self._nodes[key] = (
            f'  "{_dot_escape(key)}" [label="{label}", shape={shape}, style="{style}", '
            f'fillcolor="{fill}"{extra}];'
        )
        return key

    def commit(self, commit: CommitPublic, fill: str) -> str:
        label = _dot_label(f"{commit.repo} #{commit.seq}", short_id(commit.id), commit.origin)
        return self.node(f"commit:{commit.id}", label, "box", fill)

    def edges(self, sources: Iterable[str], target: str) -> None:
        self._edges.extend(
            f'  "{_dot_escape(source)}" -> "{_dot_escape(target)}";' for source in sources
        )

    def render(self) -> str:
        header = [
            "digraph provenance {",
            "  rankdir=LR;",
            '  node [fontname="Helvetica", fontsize=11];',
            '  edge [color="#666666"];',
        ]
        return "\n".join([*header, *self._nodes.values(), *self._edges, "}"])


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_label(*lines: str) -> str:
    """A DOT label of the non-empty lines, each escaped."""
    return "\\n".join(_dot_escape(line) for line in lines if line)
