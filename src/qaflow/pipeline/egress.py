"""The egress step ``push-answers-to-sql``: output commits into the SQL ``answers`` table.

Exactly once: rows are upserted keyed by (pipeline, version, input content, row), chunk by chunk,
and a commit is marked egressed only after all its rows are in. Files that share a datum (the
same rows under the same header) each get their rows, which name the datum that computed them.
A crash at any point is repaired by running the egress again, which inserts only what is missing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import (
    AnswerRecord,
    AnswerSource,
    Commit,
    CommitOrigin,
    FileOp,
    PipelineVersion,
    Upload,
    upsert_answers,
    utc_now,
)
from qaflow.errors import QaflowError, TerminalError
from qaflow.pipeline.datums import datum_id, load_datums, parse_output_path
from qaflow.pipeline.inspect import read_blob_rows
from qaflow.pipeline.results import ResultRow
from qaflow.pipeline.shard_digests import known_digests
from qaflow.pipeline.spec import PipelineSpec, spec_of
from qaflow.storage import ObjectStore
from qaflow.versioning import commit_changes, files_at

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1000
_PENDING_BATCH = 100


@dataclass
class EgressReport:
    commits: int = 0
    inserted: int = 0
    # Output commits left for a later pass, with why: one that cannot be read (say its
    # results blob is missing) must not hold back the commits after it.
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputLineage:
    """Where one output file came from: enough to key and trace each of its rows."""

    path: str
    result_sha256: str
    datum_id: str
    input_sha256: str
    upload_id: str | None
    start: int  # the input rows [start, stop) it holds
    stop: int


def push_answers_to_sql(
    *, session_factory: sessionmaker[Session], store: ObjectStore, chunk_rows: int = CHUNK_ROWS
) -> EgressReport:
    """Egress every pipeline output commit not egressed yet, oldest first.

    A commit that fails with a qaflow error (its results unreadable, its lineage unknown) is
    logged and listed in the report, stays pending for the next pass, and the others go on.
    """
    report = EgressReport()
    while pending := _pending_commits(session_factory, skip=report.failed.keys()):
        for commit_id in pending:
            try:
                report.inserted += egress_commit(
                    session_factory=session_factory,
                    store=store,
                    commit_id=commit_id,
                    chunk_rows=chunk_rows,
                )
            except QaflowError as exc:
                logger.warning("egress of output commit %s failed: %s", commit_id, exc.message)
                report.failed[commit_id] = exc.message
                continue
            report.commits += 1
    return report


def _pending_commits(session_factory: sessionmaker[Session], skip: Iterable[str]) -> list[str]:
    query = (
        select(Commit.id)
        .where(
            Commit.origin == CommitOrigin.PIPELINE,
            Commit.egressed_at.is_(None),
            Commit.pipeline_version_id.is_not(None),
        )
        .order_by(Commit.created_at, Commit.id)
    )
    skipped = sorted(skip)
    if skipped:
        query = query.where(Commit.id.not_in(skipped))
    with session_factory() as session:
        return list(session.scalars(query.limit(_PENDING_BATCH)))


def egress_commit(
    *,
    session_factory: sessionmaker[Session],
    store: ObjectStore,
    commit_id: str,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Upsert one output commit's rows and mark it egressed; returns the rows inserted."""
    with session_factory() as session:
        commit = session.get_one(Commit, commit_id)
        version = session.get_one(PipelineVersion, commit.pipeline_version_id)
        spec = spec_of(version)
        puts = [
            (change.path, change.blob_sha256)
            for change in commit_changes(session=session, commit=commit)
            if change.op == FileOp.PUT and change.blob_sha256 is not None
        ]
        files = output_lineages(session=session, spec=spec, commit=commit, puts=puts)
        pending = [f for f in files if not _all_stored(session, spec.name, version.version, f)]
    base = _base_row(commit, version.version, spec)
    inserted = 0
    for lineage in pending:
        for chunk in _row_chunks(store, lineage.result_sha256, chunk_rows):
            rows = [_answer_row(base, lineage, result) for result in chunk]
            with session_factory() as session:
                inserted += upsert_answers(session, rows)
                session.commit()
    with session_factory() as session:
        session.execute(
            update(Commit)
            .where(Commit.id == commit_id, Commit.egressed_at.is_(None))
            .values(egressed_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return inserted


def output_lineages(
    *, session: Session, spec: PipelineSpec, commit: Commit, puts: Sequence[tuple[str, str]]
) -> list[OutputLineage]:
    """The lineage of each output file (path, results blob) that output ``commit`` put.

    An input file is an upload's (its record names it), or else is read in the input tree
    as of the job's input commit: the file may have changed or gone since.
    """
    parsed = [(path, blob, *parse_output_path(path)) for path, blob in puts]
    inputs = _input_files(session, spec, commit, {input_path for _, _, input_path, *_ in parsed})
    digests = known_digests(session, {sha for sha, _ in inputs.values()})
    # A datum is keyed by its shard's digest, or by its file's hash if it was made without
    # one (before digests existed, or its blob could not be read then). The one that made this
    # output file has it as its result; if both do (the same rows answered under each key),
    # the commit's own job's.
    candidates = {
        path: [
            datum_id(spec.spec_hash, inputs[input_path][0], start, stop, keys)
            for keys in (digests, {})
        ]
        for path, _, input_path, start, stop in parsed
    }
    datums = load_datums(session, sorted({d for ids in candidates.values() for d in ids}))
    lineages = []
    for path, blob, input_path, start, stop in parsed:
        input_sha, upload_id = inputs[input_path]
        ids = candidates[path]
        made = sorted(
            (d for d in ids if d in datums and datums[d].result_sha256 == blob),
            key=lambda d: datums[d].job_id != commit.job_id,
        )
        lineages.append(
            OutputLineage(path, blob, (made or ids)[0], input_sha, upload_id, start, stop)
        )
    return lineages


def _input_files(
    session: Session, spec: PipelineSpec, commit: Commit, paths: set[str]
) -> dict[str, tuple[str, str | None]]:
    """Input path -> (content sha256, upload id or None)."""
    found: dict[str, tuple[str, str | None]] = {}
    for path in paths:
        upload = session.get(Upload, path.partition("/")[0])
        if upload is not None and upload.path == path:
            found[path] = (upload.sha256, upload.id)
    others = sorted(paths - found.keys())
    if others:
        input_commit = session.get(Commit, commit.input_commit_id)
        tree = (
            {}
            if input_commit is None
            else files_at(session=session, commit=input_commit, paths=others)
        )
        missing = [path for path in others if path not in tree]
        if missing:
            raise TerminalError(
                f"output commit {commit.id}: input file {missing[0]!r} is not in input commit "
                f"{commit.input_commit_id} of repo {spec.input_repo!r}"
            )
        found.update({path: (tree[path], None) for path in others})
    return found


def _all_stored(session: Session, pipeline: str, version: int, lineage: OutputLineage) -> bool:
    """Whether every row of the output file is already in ``answers`` (an index-only count)."""
    stored = session.scalar(
        select(func.count())
        .select_from(AnswerRecord)
        .where(
            AnswerRecord.pipeline_name == pipeline,
            AnswerRecord.pipeline_version == version,
            AnswerRecord.input_sha256 == lineage.input_sha256,
            AnswerRecord.row_index >= lineage.start,
            AnswerRecord.row_index < lineage.stop,
        )
    )
    return stored == lineage.stop - lineage.start


def _row_chunks(store: ObjectStore, sha256: str, chunk_rows: int) -> Iterator[list[ResultRow]]:
    chunk: list[ResultRow] = []
    for row in read_blob_rows(store, sha256):
        chunk.append(row)
        if len(chunk) == chunk_rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _base_row(commit: Commit, version: int, spec: PipelineSpec) -> dict[str, Any]:
    return {
        "model_name": spec.model,
        "model_ref": spec.model_ref,
        "source": AnswerSource.BATCH,
        "job_id": commit.job_id,
        "output_commit_id": commit.id,
        "pipeline_name": spec.name,
        "pipeline_version": version,
    }


def _answer_row(base: dict[str, Any], lineage: OutputLineage, row: ResultRow) -> dict[str, Any]:
    return {
        **base,
        "question": row.question,
        "context": row.context,
        "answer": row.answer or "",
        "score": row.score,
        "start_char": row.start,
        "end_char": row.end,
        "error": row.error,
        "upload_id": lineage.upload_id,
        "datum_id": lineage.datum_id,
        "row_index": row.row_index,
        "input_sha256": lineage.input_sha256,
        "extra_json": json.dumps(dict(row.passthrough), ensure_ascii=False)
        if row.passthrough
        else None,
    }
