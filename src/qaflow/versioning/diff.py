"""File-level differences between two commits of one repo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.db import Commit, CommitFile, FileOp
from qaflow.errors import InvalidInputError


@dataclass(frozen=True)
class TreeDiff:
    """Paths added, removed and changed (other blob) going from ``old`` to ``new``, sorted.

    ``old_blobs`` and ``new_blobs`` give the blob of each of those paths in the old and new
    tree, where it exists there.
    """

    added: list[str]
    removed: list[str]
    changed: list[str]
    old_blobs: dict[str, str] = field(default_factory=dict)
    new_blobs: dict[str, str] = field(default_factory=dict)


def diff_trees(*, session: Session, old: Commit, new: Commit) -> TreeDiff:
    """Compare the trees of two commits of the same repo (in either order).

    Only paths touched by the commits between the two can differ, so only those are read.
    """
    if old.repo_id != new.repo_id:
        raise InvalidInputError(
            f"commits {old.id} and {new.id} belong to different repos; diff needs one repo"
        )
    low, high = sorted((old.seq, new.seq))
    touched = _touched_paths(session, old.repo_id, low, high)
    old_tree = _tree_at(session, old.repo_id, old.seq, touched)
    new_tree = _tree_at(session, new.repo_id, new.seq, touched)
    return TreeDiff(
        added=sorted(path for path in new_tree if path not in old_tree),
        removed=sorted(path for path in old_tree if path not in new_tree),
        changed=sorted(
            path for path in new_tree if path in old_tree and old_tree[path] != new_tree[path]
        ),
        old_blobs=old_tree,
        new_blobs=new_tree,
    )


def files_at(*, session: Session, commit: Commit, paths: Sequence[str]) -> dict[str, str]:
    """The blob of each of ``paths`` in the tree as of ``commit`` (absent where none)."""
    return _tree_at(session, commit.repo_id, commit.seq, sorted(set(paths)))


def _touched_paths(session: Session, repo_id: int, after_seq: int, upto_seq: int) -> list[str]:
    query = (
        select(CommitFile.path)
        .join(Commit, Commit.id == CommitFile.commit_id)
        .where(Commit.repo_id == repo_id, Commit.seq > after_seq, Commit.seq <= upto_seq)
        .distinct()
    )
    return sorted(session.scalars(query))


def _tree_at(session: Session, repo_id: int, seq: int, paths: Sequence[str]) -> dict[str, str]:
    """The blob of each of ``paths`` in the tree as of commit ``seq`` (absent if none)."""
    tree: dict[str, str] = {}
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        query = (
            select(CommitFile.path, CommitFile.op, CommitFile.blob_sha256)
            .join(Commit, Commit.id == CommitFile.commit_id)
            .where(Commit.repo_id == repo_id, Commit.seq <= seq, CommitFile.path.in_(chunk))
            .order_by(Commit.seq)
        )
        for path, op, sha in session.execute(query):
            if op == FileOp.PUT and sha is not None:
                tree[path] = sha
            else:
                tree.pop(path, None)
    return tree
