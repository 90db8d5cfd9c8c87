from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.db import Commit, CommitOrigin, FileOp, Repo, RepoKind
from qaflow.errors import ConflictError, InvalidInputError, NotFoundError
from qaflow.storage import ObjectStore
from qaflow.versioning import (
    commit_changes,
    create_commit,
    ensure_repo,
    find_commit,
    get_repo,
    head_files,
    latest_commit,
    list_commits,
    store_blob_bytes,
)
from tests.support.threads import run_threads


@pytest.fixture
def repo(session: Session) -> Repo:
    made = ensure_repo(session=session, name="data", kind=RepoKind.INPUT)
    session.commit()
    return made


def blob(session: Session, store: ObjectStore, text: str) -> str:
    return store_blob_bytes(session=session, store=store, data=text.encode())


def put(session: Session, repo: Repo, puts: dict[str, str]) -> Commit:
    commit = create_commit(session=session, repo=repo, puts=puts, origin=CommitOrigin.UPLOAD)
    session.commit()
    return commit


def head(session: Session, repo: Repo) -> dict[str, str]:
    return {entry.path: entry.blob_sha256 for entry in head_files(session=session, repo=repo)}


def test_ensure_repo_creates_once_and_refuses_another_kind(session: Session) -> None:
    first = ensure_repo(session=session, name="uploads", kind=RepoKind.INPUT, description="CSVs")
    again = ensure_repo(session=session, name="uploads", kind=RepoKind.INPUT)
    session.commit()

    assert first.id == again.id
    assert get_repo(session=session, name="uploads").description == "CSVs"
    with pytest.raises(ConflictError, match="input"):
        ensure_repo(session=session, name="uploads", kind=RepoKind.OUTPUT)
    with pytest.raises(NotFoundError, match="nope"):
        get_repo(session=session, name="nope")
    with pytest.raises(InvalidInputError):
        ensure_repo(session=session, name=" ", kind=RepoKind.INPUT)


def test_commits_are_numbered_and_chained(
    session: Session, local_store: ObjectStore, repo: Repo
) -> None:
    a = blob(session, local_store, "a")
    commits = [put(session, repo, {f"f{n}.csv": a}) for n in range(3)]

    assert [c.seq for c in commits] == [1, 2, 3]
    assert [c.parent_id for c in commits] == [None, commits[0].id, commits[1].id]
    assert all(len(c.id) == 32 for c in commits)
    assert [c.id for c in list_commits(session=session, repo=repo)] == [
        c.id for c in reversed(commits)
    ]
    assert [c.seq for c in list_commits(session=session, repo=repo, before_seq=3, limit=1)] == [2]
    assert find_commit(session=session, ref=commits[1].id).seq == 2
    latest = latest_commit(session=session, repo=repo)
    assert latest is not None
    assert latest.id == commits[2].id
    with pytest.raises(NotFoundError, match="missing"):
        find_commit(session=session, ref="missing")


def test_find_commit_takes_a_unique_prefix_like_git(session: Session, repo: Repo) -> None:
    ids = ["abcd" + "0" * 28, "abcd" + "1" * 28, "abce" + "2" * 28]
    for seq, commit_id in enumerate(ids, start=1):
        session.add(Commit(id=commit_id, repo_id=repo.id, seq=seq, origin=CommitOrigin.UPLOAD))
    session.commit()

    assert find_commit(session=session, ref=ids[1]).id == ids[1]
    assert find_commit(session=session, ref="abce").id == ids[2]
    assert find_commit(session=session, ref="ABCD1").id == ids[1]
    with pytest.raises(InvalidInputError, match=r"ambiguous.*abcd0+, abcd1+"):
        find_commit(session=session, ref="abcd")
    with pytest.raises(NotFoundError, match="at least 4"):
        find_commit(session=session, ref="abc")
    with pytest.raises(NotFoundError, match="at least 4"):
        find_commit(session=session, ref="abcd%")
    with pytest.raises(NotFoundError, match="'abcf' not found"):
        find_commit(session=session, ref="abcf")


def test_each_repo_counts_its_own_commits(
    session: Session, local_store: ObjectStore, repo: Repo
) -> None:
    other = ensure_repo(session=session, name="question_answer", kind=RepoKind.OUTPUT)
    a = blob(session, local_store, "a")
    put(session, repo, {"x": a})
    put(session, repo, {"y": a})

    first_output = put(session, other, {"x": a})

    assert (first_output.seq, first_output.parent_id) == (1, None)
    assert latest_commit(session=session, repo=other) == first_output


def test_commit_records_changes_and_head_tree_follows(
    session: Session, local_store: ObjectStore, repo: Repo
) -> None:
    a, b, c = (blob(session, local_store, text) for text in ("a", "bb", "ccc"))
    first = put(session, repo, {"one/a.csv": a, "one/b.csv": b})
    second = create_commit(
        session=session,
        repo=repo,
        puts={"one/b.csv": c, "two/c.csv": c},
        deletes=["one/a.csv"],
        origin=CommitOrigin.BUCKET_SCAN,
        message="replace b, drop a",
    )
    session.commit()

    changes = commit_changes(session=session, commit=second)
    assert [(f.path, f.op, f.blob_sha256, f.size) for f in changes] == [
        ("one/a.csv", FileOp.DELETE, None, None),
        ("one/b.csv", FileOp.PUT, c, 3),
        ("two/c.csv", FileOp.PUT, c, 3),
    ]
    assert [(f.path, f.size) for f in commit_changes(session=session, commit=first)] == [
        ("one/a.csv", 1),
        ("one/b.csv", 2),
    ]
    assert head(session, repo) == {"one/b.csv": c, "two/c.csv": c}
    files = head_files(session=session, repo=repo)
    assert {f.path: f.commit_id for f in files} == {"one/b.csv": second.id, "two/c.csv": second.id}
    assert second.message == "replace b, drop a"
    assert second.origin == CommitOrigin.BUCKET_SCAN


def test_head_files_filters_by_glob(session: Session, local_store: ObjectStore, repo: Repo) -> None:
    a = blob(session, local_store, "a")
    put(session, repo, {"u1/q.csv": a, "u1/notes.txt": a, "top.csv": a})

    paths = [f.path for f in head_files(session=session, repo=repo, glob="**/*.csv")]
    assert paths == ["u1/q.csv"]
    assert [f.path for f in head_files(session=session, repo=repo, glob="*.csv")] == [
        "top.csv",
        "u1/q.csv",
    ]


def test_pipeline_commits_keep_their_provenance(
    session: Session, local_store: ObjectStore, repo: Repo
) -> None:
    a = blob(session, local_store, "a")
    source = put(session, repo, {"in.csv": a})
    output = ensure_repo(session=session, name="out", kind=RepoKind.OUTPUT)
    made = create_commit(
        session=session,
        repo=output,
        puts={"in.csv/rows-0-1.parquet": a},
        origin=CommitOrigin.PIPELINE,
        input_commit_id=source.id,
        job_id="j" * 32,
        pipeline_version_id=7,
    )
    session.commit()
    session.expire_all()

    stored = find_commit(session=session, ref=made.id)
    assert (stored.input_commit_id, stored.job_id, stored.pipeline_version_id) == (
        source.id,
        "j" * 32,
        7,
    )
    assert stored.egressed_at is None


def test_an_empty_commit_is_allowed(session: Session, repo: Repo) -> None:
    commit = put(session, repo, {})
    assert commit.seq == 1
    assert commit_changes(session=session, commit=commit) == []


@pytest.mark.parametrize(
    ("puts", "deletes", "message"),
    [
        ({"../escape.csv": "A"}, [], "'..'"),
        ({"/abs.csv": "A"}, [], "relative"),
        ({"same.csv": "A"}, ["same.csv"], "both put and delete"),
        ({}, ["never-there.csv"], "no such file"),
        ({"x.csv": "0" * 64}, [], "never stored"),
    ],
)
def test_bad_commits_are_refused_and_change_nothing(
    session: Session,
    local_store: ObjectStore,
    repo: Repo,
    puts: dict[str, str],
    deletes: list[str],
    message: str,
) -> None:
    a = blob(session, local_store, "a")
    put(session, repo, {"kept.csv": a})
    resolved = {path: a if sha == "A" else sha for path, sha in puts.items()}

    with pytest.raises(InvalidInputError, match=message):
        create_commit(
            session=session,
            repo=repo,
            puts=resolved,
            deletes=deletes,
            origin=CommitOrigin.UPLOAD,
        )
    session.rollback()

    assert session.scalar(select(func.count()).select_from(Commit)) == 1
    assert head(session, repo) == {"kept.csv": a}


def test_the_caller_decides_whether_a_commit_lands(
    session: Session, local_store: ObjectStore, repo: Repo
) -> None:
    a = blob(session, local_store, "a")
    session.commit()
    create_commit(session=session, repo=repo, puts={"x.csv": a}, origin=CommitOrigin.UPLOAD)
    session.rollback()

    assert list_commits(session=session, repo=repo) == []
    assert head(session, repo) == {}


def test_concurrent_commits_to_one_repo_get_distinct_seqs(
    session_factory: sessionmaker[Session], local_store: ObjectStore
) -> None:
    with session_factory() as session:
        ensure_repo(session=session, name="busy", kind=RepoKind.INPUT)
        session.commit()
    threads_count, commits_each = 2, 8
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def commit_many(worker: int) -> None:
        try:
            with session_factory() as session:
                busy = get_repo(session=session, name="busy")
                shas = [
                    store_blob_bytes(
                        session=session, store=local_store, data=f"{worker}-{n}".encode()
                    )
                    for n in range(commits_each)
                ]
                session.commit()
                barrier.wait(timeout=30)
                # The commit is the first write of each transaction: only its lock orders them.
                for n, sha in enumerate(shas):
                    create_commit(
                        session=session,
                        repo=busy,
                        puts={f"w{worker}/{n}.csv": sha},
                        origin=CommitOrigin.UPLOAD,
                    )
                    session.commit()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=commit_many, args=(w,)) for w in range(threads_count)]
    run_threads(threads, 120)

    assert failures == []
    with session_factory() as session:
        busy = get_repo(session=session, name="busy")
        commits = list(reversed(list_commits(session=session, repo=busy, limit=1000)))
        assert [c.seq for c in commits] == list(range(1, threads_count * commits_each + 1))
        assert [c.parent_id for c in commits] == [None] + [c.id for c in commits[:-1]]
        assert len(head(session, busy)) == threads_count * commits_each
