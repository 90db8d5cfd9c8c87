"""Reading pipeline output: an input file's results, and row-level diffs of output commits."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from qaflow.db import Commit, RepoFile
from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.pipeline.datums import output_files_under, parse_output_path
from qaflow.pipeline.results import ResultRow, read_results_parquet
from qaflow.storage import ObjectStore
from qaflow.versioning import blob_key, diff_trees


def results_of(*, session: Session, repo_id: int, input_path: str) -> list[RepoFile]:
    """The output files (in row order) holding the results for the input file ``input_path``."""
    return output_files_under(session=session, repo_id=repo_id, input_path=input_path)


def iter_results(*, store: ObjectStore, blobs: Sequence[str]) -> Iterator[ResultRow]:
    """The rows of the results blobs, in the order given."""
    for sha256 in blobs:
        yield from read_blob_rows(store, sha256)


def read_blob_rows(store: ObjectStore, sha256: str) -> Iterator[ResultRow]:
    # Parquet needs a seekable file: spool the object locally (to disk past a few MB).
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as local:
        try:
            with store.open_read(blob_key(sha256)) as source:
                shutil.copyfileobj(source, local)
        except NotFoundError as exc:
            # The database says these results exist: the store is not the one they went to.
            raise NotFoundError(
                f"{exc.message}: the results are recorded but not in this store; if "
                "QAFLOW_STORAGE_URL changed since they were written, they are in the earlier one"
            ) from exc
        local.seek(0)
        yield from read_results_parquet(local)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RowChange:
    """One input row whose answer differs between two output commits."""

    input_path: str
    row_index: int
    question: str
    old_answer: str | None
    new_answer: str | None
    old_score: float | None
    new_score: float | None
    old_error: str | None
    new_error: str | None


@dataclass
class OutputDiff:
    """Files added, removed and changed between two output commits, and the changed rows."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    rows: list[RowChange] = field(default_factory=list)
    truncated: bool = False


def diff_outputs(
    *, session: Session, store: ObjectStore, old: Commit, new: Commit, limit: int = 1000
) -> OutputDiff:
    """Compare two commits of one output repo row by row: rows whose answer or error changed."""
    if limit < 1:
        raise InvalidInputError("limit must be at least 1")
    tree = diff_trees(session=session, old=old, new=new)
    diff = OutputDiff(added=tree.added, removed=tree.removed, changed=tree.changed)
    for path in tree.changed:
        input_path = parse_output_path(path)[0]
        before = {row.row_index: row for row in read_blob_rows(store, tree.old_blobs[path])}
        for row in read_blob_rows(store, tree.new_blobs[path]):
            was = before.get(row.row_index)
            if was is not None and _same_outcome(was, row):
                continue
            if len(diff.rows) == limit:
                diff.truncated = True
                return diff
            diff.rows.append(_change(input_path, was, row))
    return diff


def _same_outcome(old: ResultRow, new: ResultRow) -> bool:
    return (old.answer, old.start, old.end, old.error) == (
        new.answer,
        new.start,
        new.end,
        new.error,
    )


def _change(input_path: str, old: ResultRow | None, new: ResultRow) -> RowChange:
    return RowChange(
        input_path=input_path,
        row_index=new.row_index,
        question=new.question,
        old_answer=None if old is None else old.answer,
        new_answer=new.answer,
        old_score=None if old is None else old.score,
        new_score=new.score,
        old_error=None if old is None else old.error,
        new_error=new.error,
    )
