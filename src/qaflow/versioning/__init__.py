"""Versioned data, after Pachyderm: repos of files, content-addressed blobs, numbered commits.

Every function takes the session and leaves committing to the caller, so a commit and whatever
it records (an upload, a job's output) land in one transaction.
"""

from qaflow.versioning.blobs import BLOB_PREFIX, blob_key, store_blob_bytes, store_blob_from_file
from qaflow.versioning.commits import (
    commit_changes,
    create_commit,
    find_commit,
    head_files,
    latest_commit,
    list_commits,
)
from qaflow.versioning.diff import TreeDiff, diff_trees, files_at
from qaflow.versioning.repos import ensure_repo, get_repo

__all__ = [
    "BLOB_PREFIX",
    "TreeDiff",
    "blob_key",
    "commit_changes",
    "create_commit",
    "diff_trees",
    "ensure_repo",
    "files_at",
    "find_commit",
    "get_repo",
    "head_files",
    "latest_commit",
    "list_commits",
    "store_blob_bytes",
    "store_blob_from_file",
]
