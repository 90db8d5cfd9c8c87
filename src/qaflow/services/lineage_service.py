"""Browsing the versioned data: repos, commits with their provenance, and answer diffs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qaflow.db import Commit, Pipeline, PipelineVersion, Repo, RepoFile, RepoKind
from qaflow.errors import InvalidInputError
from qaflow.pipeline.inspect import diff_outputs
from qaflow.pipeline.spec import spec_of
from qaflow.services.pipeline_schemas import (
    CommitDetail,
    CommitFilePublic,
    CommitPublic,
    DiffPublic,
    RepoPublic,
    RowChangePublic,
)
from qaflow.storage import ObjectStore
from qaflow.versioning import commit_changes, find_commit, get_repo, latest_commit, list_commits


def list_repos(*, session: Session) -> list[RepoPublic]:
    repos = session.scalars(select(Repo).order_by(Repo.name))
    counts: dict[int, int] = {
        repo_id: count
        for repo_id, count in session.execute(
            select(RepoFile.repo_id, func.count()).group_by(RepoFile.repo_id)
        )
    }
    result = []
    for repo in repos:
        head = latest_commit(session=session, repo=repo)
        result.append(
            RepoPublic(
                name=repo.name,
                kind=repo.kind.value,
                description=repo.description,
                created_at=repo.created_at,
                head_commit_id=None if head is None else head.id,
                head_seq=None if head is None else head.seq,
                files=counts.get(repo.id, 0),
            )
        )
    return result


def repo_commits(
    *, session: Session, name: str, limit: int = 100, before_seq: int | None = None
) -> list[CommitPublic]:
    """The repo's commits, newest first."""
    repo = get_repo(session=session, name=name)
    commits = list_commits(session=session, repo=repo, limit=limit, before_seq=before_seq)
    return [_commit_public(commit, repo.name) for commit in commits]


def commit_detail(*, session: Session, commit_id: str) -> CommitDetail:
    """A commit, its changes and, for pipeline output, the pipeline version and model."""
    commit = find_commit(session=session, ref=commit_id)
    repo = session.get_one(Repo, commit.repo_id)
    files = [
        CommitFilePublic(path=f.path, op=f.op.value, blob_sha256=f.blob_sha256, size=f.size)
        for f in commit_changes(session=session, commit=commit)
    ]
    detail = CommitDetail(**_commit_public(commit, repo.name).model_dump(), files=files)
    if commit.pipeline_version_id is not None:
        version = session.get(PipelineVersion, commit.pipeline_version_id)
        if version is not None:
            detail.pipeline = session.get_one(Pipeline, version.pipeline_id).name
            detail.pipeline_version = version.version
            detail.model = spec_of(version).model
    return detail


def diff_commits(
    *, session: Session, store: ObjectStore, from_id: str, to_id: str, limit: int = 1000
) -> DiffPublic:
    """Rows whose answer differs between two commits of one output repo."""
    old = find_commit(session=session, ref=from_id)
    new = find_commit(session=session, ref=to_id)
    if old.repo_id != new.repo_id:
        raise InvalidInputError(
            f"Commits {old.id} and {new.id} belong to different repos; diff compares one repo."
        )
    repo = session.get_one(Repo, old.repo_id)
    if repo.kind != RepoKind.OUTPUT:
        raise InvalidInputError(
            f"Repo '{repo.name}' holds input files; "
            "diff compares the answers in a pipeline's output repo."
        )
    diff = diff_outputs(session=session, store=store, old=old, new=new, limit=limit)
    return DiffPublic(
        from_commit=old.id,
        to_commit=new.id,
        added_files=diff.added,
        removed_files=diff.removed,
        changed_files=diff.changed,
        changed_rows=[RowChangePublic(**vars(row)) for row in diff.rows],
        truncated=diff.truncated,
    )


def _commit_public(commit: Commit, repo: str) -> CommitPublic:
    return CommitPublic(
        id=commit.id,
        repo=repo,
        seq=commit.seq,
        parent_id=commit.parent_id,
        origin=commit.origin.value,
        message=commit.message,
        created_at=commit.created_at,
        input_commit_id=commit.input_commit_id,
        job_id=commit.job_id,
        pipeline_version_id=commit.pipeline_version_id,
        egressed_at=commit.egressed_at,
    )
