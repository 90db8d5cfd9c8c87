from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from qaflow.db import Commit, CommitOrigin, RepoKind
from qaflow.errors import InvalidInputError
from qaflow.storage import ObjectStore
from qaflow.versioning import TreeDiff, create_commit, diff_trees, ensure_repo, store_blob_bytes


def test_diff_trees_reports_added_removed_and_changed_files(
    session: Session, local_store: ObjectStore
) -> None:
    repo = ensure_repo(session=session, name="data", kind=RepoKind.INPUT)
    a, b, c = (
        store_blob_bytes(session=session, store=local_store, data=t) for t in (b"a", b"b", b"c")
    )

    def commit(puts: dict[str, str], deletes: tuple[str, ...] = ()) -> Commit:
        made = create_commit(
            session=session, repo=repo, puts=puts, deletes=deletes, origin=CommitOrigin.UPLOAD
        )
        session.commit()
        return made

    first = commit({"keep.csv": a, "edit.csv": a, "drop.csv": a, "flip.csv": a})
    commit({"edit.csv": b, "new.csv": c}, deletes=("drop.csv",))
    commit({"flip.csv": b})
    last = commit({"flip.csv": a, "untouched-later.csv": c})

    diff = diff_trees(session=session, old=first, new=last)
    assert (diff.added, diff.removed, diff.changed) == (
        ["new.csv", "untouched-later.csv"],
        ["drop.csv"],
        ["edit.csv"],
    )
    assert diff.old_blobs["edit.csv"] == a
    assert diff.new_blobs["edit.csv"] == b

    back = diff_trees(session=session, old=last, new=first)
    assert (back.added, back.removed, back.changed) == (
        ["drop.csv"],
        ["new.csv", "untouched-later.csv"],
        ["edit.csv"],
    )
    same = diff_trees(session=session, old=last, new=last)
    assert same == TreeDiff(added=[], removed=[], changed=[])


def test_diff_trees_needs_one_repo(session: Session, local_store: ObjectStore) -> None:
    a = store_blob_bytes(session=session, store=local_store, data=b"a")
    commits = []
    for name in ("one", "two"):
        repo = ensure_repo(session=session, name=name, kind=RepoKind.INPUT)
        commits.append(
            create_commit(session=session, repo=repo, puts={"x": a}, origin=CommitOrigin.UPLOAD)
        )
    session.commit()

    with pytest.raises(InvalidInputError, match="different repos"):
        diff_trees(session=session, old=commits[0], new=commits[1])
