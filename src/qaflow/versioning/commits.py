"""Commits: numbered changes to a repo, and the HEAD tree they maintain."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.db import Blob, Commit, CommitFile, CommitOrigin, FileOp, Repo, RepoFile
from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.storage import validate_key
from qaflow.versioning._sql import lock_repo

MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")
# Bound on bound parameters per IN (...) query; SQLite allows 32766, PostgreSQL 65535.
_IN_CHUNK = 500


def create_commit(
    *,
    session: Session,
    repo: Repo,
    puts: Mapping[str, str],
    deletes: Iterable[str] = (),
    origin: CommitOrigin,
    message: str | None = None,
    input_commit_id: str | None = None,
    job_id: str | None = None,
    pipeline_version_id: int | None = None,
) -> Commit:
    """Record ``puts`` (path -> blob SHA-256) and ``deletes`` as the repo's next commit.

    The parent is the repo's latest commit and ``seq`` follows it. Writes the commit's changes
    and updates the HEAD tree; flushes but does not commit, so the caller's transaction decides.
    Holds the repo's lock from here to the end of that transaction.
    """
    deleted = sorted(set(deletes))
    _check_paths(puts, deleted)
    lock_repo(session, repo.id)
    sizes = _blob_sizes(session, puts.values())
    head = _head_paths(session, repo.id, deleted)
    missing = [path for path in deleted if path not in head]
    if missing:
        raise InvalidInputError(
            f"cannot delete {missing[0]!r} from repo '{repo.name}': no such file at its HEAD"
        )
    parent = _latest_commit(session, repo.id)
    commit = Commit(
        id=uuid.uuid4().hex,
        repo_id=repo.id,
        seq=1 if parent is None else parent.seq + 1,
        parent_id=None if parent is None else parent.id,
        origin=origin,
        message=message,
        input_commit_id=input_commit_id,
        job_id=job_id,
        pipeline_version_id=pipeline_version_id,
    )
    session.add(commit)
    session.flush()
    session.add_all(_changes(commit.id, puts, deleted, sizes))
    _update_head(session, repo.id, commit.id, puts, [head[path] for path in deleted])
    session.flush()
    return commit


def list_commits(
    *, session: Session, repo: Repo, limit: int = 100, before_seq: int | None = None
) -> list[Commit]:
    """The repo's commits, newest first; ``before_seq`` pages back from a seq (exclusive)."""
    query = select(Commit).where(Commit.repo_id == repo.id)
    if before_seq is not None:
        query = query.where(Commit.seq < before_seq)
    return list(session.scalars(query.order_by(Commit.seq.desc()).limit(limit)))


def find_commit(*, session: Session, ref: str) -> Commit:
    """The commit whose id is ``ref`` or, as in git, the one commit whose id starts with it.

    A prefix needs at least ``MIN_PREFIX`` hex digits; InvalidInputError when several commits
    share it, NotFoundError when none has it.
    """
    exact = session.get(Commit, ref)
    if exact is not None:
        return exact
    prefix = ref.lower()
    if len(prefix) < MIN_PREFIX or not _HEX.fullmatch(prefix):
        raise NotFoundError(
            f"Commit '{ref}' not found (give the full id or at least {MIN_PREFIX} of its "
            "leading hex digits)."
        )
    # Ids are lower-case hex, so the prefix range is exact and needs no LIKE escaping.
    query = (
        select(Commit)
        .where(Commit.id >= prefix, Commit.id < prefix + "g")
        .order_by(Commit.id)
        .limit(2)
    )
    matches = list(session.scalars(query))
    if not matches:
        raise NotFoundError(f"Commit '{ref}' not found.")
    if len(matches) > 1:
        raise InvalidInputError(
            f"Commit prefix '{ref}' is ambiguous: {matches[0].id}, {matches[1].id}, ... "
            "give more digits."
        )
    return matches[0]


def commit_changes(*, session: Session, commit: Commit) -> list[CommitFile]:
    """What the commit put and deleted, by path."""
    query = select(CommitFile).where(CommitFile.commit_id == commit.id).order_by(CommitFile.path)
    return list(session.scalars(query))


def head_files(*, session: Session, repo: Repo, glob: str | None = None) -> list[RepoFile]:
    """The repo's current files by path, those matching ``glob`` (fnmatch) when given."""
    query = select(RepoFile).where(RepoFile.repo_id == repo.id).order_by(RepoFile.path)
    files = session.scalars(query)
    if glob is None:
        return list(files)
    return [entry for entry in files if fnmatchcase(entry.path, glob)]


def latest_commit(*, session: Session, repo: Repo) -> Commit | None:
    """The repo's newest commit, or None for an empty repo."""
    return _latest_commit(session, repo.id)


def _latest_commit(session: Session, repo_id: int) -> Commit | None:
    query = select(Commit).where(Commit.repo_id == repo_id).order_by(Commit.seq.desc()).limit(1)
    return session.scalars(query).first()


def _check_paths(puts: Mapping[str, str], deleted: Sequence[str]) -> None:
    for path in [*puts, *deleted]:
        validate_key(path)
    both = sorted(set(puts) & set(deleted))
    if both:
        raise InvalidInputError(f"a commit cannot both put and delete {both[0]!r}")


def _blob_sizes(session: Session, shas: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(shas))
    sizes: dict[str, int] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(select(Blob.sha256, Blob.size).where(Blob.sha256.in_(chunk)))
        sizes.update({sha: size for sha, size in rows})
    unknown = [sha for sha in wanted if sha not in sizes]
    if unknown:
        raise InvalidInputError(f"cannot commit blob {unknown[0]}: it was never stored")
    return sizes


def _head_paths(session: Session, repo_id: int, paths: Sequence[str]) -> dict[str, RepoFile]:
    found: dict[str, RepoFile] = {}
    for chunk in _chunks(paths):
        query = select(RepoFile).where(RepoFile.repo_id == repo_id, RepoFile.path.in_(chunk))
        found.update({entry.path: entry for entry in session.scalars(query)})
    return found


def _changes(
    commit_id: str, puts: Mapping[str, str], deleted: Sequence[str], sizes: Mapping[str, int]
) -> Iterator[CommitFile]:
    for path, sha in puts.items():
        yield CommitFile(
            commit_id=commit_id, path=path, op=FileOp.PUT, blob_sha256=sha, size=sizes[sha]
        )
    for path in deleted:
        yield CommitFile(commit_id=commit_id, path=path, op=FileOp.DELETE)


def _update_head(
    session: Session,
    repo_id: int,
    commit_id: str,
    puts: Mapping[str, str],
    deleted: Sequence[RepoFile],
) -> None:
    existing = _head_paths(session, repo_id, sorted(puts))
    for path, sha in puts.items():
        entry = existing.get(path)
        if entry is None:
            session.add(RepoFile(repo_id=repo_id, path=path, blob_sha256=sha, commit_id=commit_id))
        else:
            entry.blob_sha256 = sha
            entry.commit_id = commit_id
    for entry in deleted:
        session.delete(entry)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
