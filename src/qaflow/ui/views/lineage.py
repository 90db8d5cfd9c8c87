"""Data & lineage: repos and commits, a commit's provenance, diffs of answers, the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from qaflow.errors import QaflowError
from qaflow.services.pipeline_schemas import CommitDetail, CommitPublic
from qaflow.ui.client import ApiClient, ApiRequestError
from qaflow.ui.formatting import (
    JobChain,
    Provenance,
    duration_text,
    provenance_dot,
    short_id,
)
from qaflow.ui.views.common import browser_timezone, show_error
from qaflow.wording import plural

PIPELINE = "question_answer"
ANSWERS_REPO = "question_answer"  # the pipeline's output repo is named after it
JOBS_SCANNED = 1000  # the API's most per page: jobs over an input commit are found among these


def render(client: ApiClient) -> None:
    st.title("Data & lineage")
    st.caption(
        "Each upload is a commit of the `uploads` repo. A pipeline job answers it and writes one "
        "commit of answers to the `question_answer` repo, which is then copied to SQL."
    )
    repos_tab, diff_tab, pipeline_tab = st.tabs(["Repos & commits", "Diff", "Pipeline & jobs"])
    with repos_tab:
        _section(_repos, client)
    with diff_tab:
        _section(_diff, client)
    with pipeline_tab:
        _section(_pipeline, client)


def _section(draw: Callable[[ApiClient], None], client: ApiClient) -> None:
    # One section's failure (e.g. an API without that route) must not hide the others.
    try:
        draw(client)
    except QaflowError as exc:
        show_error(exc)


def _local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(browser_timezone()).replace(tzinfo=None)


def _repos(client: ApiClient) -> None:
    repos = client.list_repos()
    if not repos:
        st.info("No data yet: upload a CSV first.", icon=":material/info:")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "repo": r.name,
                    "kind": r.kind,
                    "commits": r.head_seq or 0,
                    "files": r.files,
                    "head": short_id(r.head_commit_id),
                    "created": _local(r.created_at),
                    "description": r.description,
                }
                for r in repos
            ]
        ),
        hide_index=True,
    )
    repo = st.selectbox("Repo", [r.name for r in repos], key="lineage_repo")
    if repo is None:
        return
    commits = client.list_commits(repo)
    if not commits:
        st.info(f"'{repo}' has no commits yet.", icon=":material/info:")
        return
    st.dataframe(_commits_frame(commits), hide_index=True)
    chosen = st.selectbox(
        "Provenance of commit",
        [c.id for c in commits],
        format_func=lambda cid: _commit_option(cid, commits),
        key=f"lineage_commit_{repo}",
    )
    if chosen is not None:
        _provenance(client, client.get_commit(chosen))


def _commit_option(commit_id: str, commits: list[CommitPublic]) -> str:
    commit = next((c for c in commits if c.id == commit_id), None)
    if commit is None:
        return short_id(commit_id)
    created = _local(commit.created_at)
    return f"#{commit.seq} · {short_id(commit.id)} · {commit.origin} · {created:%Y-%m-%d %H:%M:%S}"


def _commits_frame(commits: list[CommitPublic]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "seq": c.seq,
                "commit": c.id,
                "origin": c.origin,
                "created": _local(c.created_at),
                "message": c.message,
                "input commit": short_id(c.input_commit_id),
                "job": short_id(c.job_id),
                "in SQL": None if c.origin != "pipeline" else c.egressed_at is not None,
            }
            for c in commits
        ]
    )


def _provenance(client: ApiClient, detail: CommitDetail) -> None:
    provenance = _trace(client, detail)
    if detail.pipeline:
        st.markdown(
            f"**Pipeline** `{detail.pipeline}` version {detail.pipeline_version} · "
            f"**model** `{detail.model}`"
        )
    st.graphviz_chart(provenance_dot(provenance, now=datetime.now(UTC)))
    with st.expander(f"Files this commit changed ({len(detail.files)})"):
        st.dataframe(
            pd.DataFrame(
                [f.model_dump() for f in detail.files],
                columns=["path", "op", "size", "blob_sha256"],
            ),
            hide_index=True,
        )


def _trace(client: ApiClient, detail: CommitDetail) -> Provenance:
    """Walk the lineage around a commit over the API: its input side and its job(s)."""
    if detail.origin == "pipeline":
        source = client.get_commit(detail.input_commit_id) if detail.input_commit_id else None
        chains = [JobChain(client.get_job(detail.job_id), detail)] if detail.job_id else []
    else:
        source = detail
        jobs = [
            job for job in client.list_jobs(limit=JOBS_SCANNED) if job.input_commit_id == detail.id
        ]
        chains = [
            JobChain(job, client.get_commit(job.output_commit_id) if job.output_commit_id else None)
            for job in jobs
        ]
    files = [] if source is None else [f.path for f in source.files if f.op == "put"]
    return Provenance(selected_id=detail.id, input_commit=source, input_files=files, chains=chains)


def _diff(client: ApiClient) -> None:
    try:
        commits = client.list_commits(ANSWERS_REPO)
    except ApiRequestError as exc:
        if not exc.not_found:
            raise
        commits = []  # the pipeline has not written any answers yet
    if len(commits) < 2:
        st.info(
            "A diff compares two commits of the answers repo: there are not two yet.",
            icon=":material/info:",
        )
        return
    ids = [c.id for c in commits]

    def label(cid: str) -> str:
        return _commit_option(cid, commits)

    old_col, new_col = st.columns(2)
    old = old_col.selectbox("From", ids, index=1, format_func=label, key="lineage_diff_from")
    new = new_col.selectbox("To", ids, index=0, format_func=label, key="lineage_diff_to")
    if old is None or new is None or old == new:
        st.info("Pick two different commits.", icon=":material/info:")
        return
    diff = client.diff(old, new)
    files = {
        "added": diff.added_files,
        "removed": diff.removed_files,
        "changed": diff.changed_files,
    }
    for col, (name, paths) in zip(st.columns(3), files.items(), strict=True):
        col.metric(f"Files {name}", len(paths))
    if not diff.changed_rows:
        st.success("No answer changed between these commits.", icon=":material/check_circle:")
        return
    more = " (the first ones)" if diff.truncated else ""
    changed = plural(len(diff.changed_rows), "row")
    st.markdown(f"**{changed} whose answer changed**{more}")
    st.dataframe(
        pd.DataFrame([r.model_dump() for r in diff.changed_rows]),
        hide_index=True,
        column_config={
            "old_score": st.column_config.NumberColumn(format="%.3f"),
            "new_score": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def _pipeline(client: ApiClient) -> None:
    pipeline = client.get_pipeline(PIPELINE)
    st.subheader(f"Pipeline `{pipeline.name}`, version {pipeline.version}")
    st.markdown(
        f"**Model** `{pipeline.spec.get('model', '')}` (`{pipeline.spec.get('model_ref', '')}`)"
    )
    with st.expander("Spec"):
        st.json(pipeline.spec)
    if len(pipeline.versions) > 1:
        with st.expander(f"Versions ({len(pipeline.versions)})"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "version": v.version,
                            "model": v.model,
                            "model_ref": v.model_ref,
                            "created": _local(v.created_at),
                            "spec_hash": v.spec_hash,
                        }
                        for v in pipeline.versions
                    ]
                ),
                hide_index=True,
            )
    st.subheader("Jobs")
    jobs = client.list_jobs()
    if not jobs:
        st.info("No jobs yet.", icon=":material/info:")
        return
    now = datetime.now(UTC)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "job": j.id,
                    "state": j.state,
                    "version": j.pipeline_version,
                    "scope": j.scope,
                    "progress": j.progress,
                    "shards": j.total,
                    "computed": j.processed,
                    "skipped": j.skipped,
                    "failed": j.failed,
                    "duration": duration_text(j.started_at, j.finished_at, now),
                    "created": _local(j.created_at),
                    "input commit": short_id(j.input_commit_id),
                    "output commit": short_id(j.output_commit_id),
                    "error": j.error,
                }
                for j in jobs
            ]
        ),
        hide_index=True,
        column_config={
            "progress": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent"
            )
        },
    )
