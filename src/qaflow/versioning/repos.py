"""Repos: named, versioned sets of files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qaflow.db import Repo, RepoKind, insert_ignoring_duplicates
from qaflow.errors import ConflictError, InvalidInputError, NotFoundError

MAX_REPO_NAME_CHARS = 200


def ensure_repo(
    *, session: Session, name: str, kind: RepoKind, description: str | None = None
) -> Repo:
    """The repo called ``name``, created if missing (safe when processes race to create it).

    An existing repo of another kind raises ConflictError.
    """
    _check_name(name)
    repo = _find(session, name)
    if repo is None:
        row = {"name": name, "kind": kind, "description": description}
        insert_ignoring_duplicates(session, Repo, [row], ["name"])
        repo = _find(session, name)
        if repo is None:  # pragma: no cover - the insert or a concurrent one made it
            raise NotFoundError(f"repo '{name}' vanished while it was being created")
    if repo.kind != kind:
        raise ConflictError(f"repo '{name}' exists as an {repo.kind} repo, not {kind}")
    return repo


def get_repo(*, session: Session, name: str) -> Repo:
    """The repo called ``name``; NotFoundError when there is none."""
    repo = _find(session, name)
    if repo is None:
        raise NotFoundError(f"Repo '{name}' not found.")
    return repo


def _find(session: Session, name: str) -> Repo | None:
    return session.scalars(select(Repo).where(Repo.name == name)).one_or_none()


def _check_name(name: str) -> None:
    if not name or not name.strip() or len(name) > MAX_REPO_NAME_CHARS:
        raise InvalidInputError(
            f"repo names must be 1 to {MAX_REPO_NAME_CHARS} characters, got {name!r}"
        )
