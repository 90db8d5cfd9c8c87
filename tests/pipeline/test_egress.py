"""The egress: every output row lands in SQL exactly once, however often it runs."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from qaflow.db import AnswerRecord, Commit, CommitOrigin, Job, RepoKind
from qaflow.pipeline.egress import push_answers_to_sql
from qaflow.services import pipeline_service
from qaflow.services.runtime import Runtime
from qaflow.versioning import blob_key, commit_changes, create_commit, ensure_repo, store_blob_bytes
from tests.pipeline.pipeline_support import question_csv, run_pass, stored_answers, upload


def _rows(runtime: Runtime) -> list[tuple[object, ...]]:
    return [
        (a.datum_id, a.row_index, a.question, a.answer, a.start_char, a.error, a.job_id)
        for a in stored_answers(runtime)
    ]


def _egress(runtime: Runtime) -> tuple[int, int]:
    report = push_answers_to_sql(session_factory=runtime.sessions, store=runtime.store)
    return report.commits, report.inserted


def test_a_rerun_inserts_only_what_is_missing(runtime: Runtime) -> None:
    upload(runtime, question_csv(10, blank_questions=[7]))
    assert run_pass(runtime).inserted_rows == 10
    complete = _rows(runtime)

    assert _egress(runtime) == (0, 0)

    # A crash after some rows were written and before the commit was marked egressed.
    with runtime.sessions() as session:
        lost = list(session.scalars(select(AnswerRecord.id).where(AnswerRecord.row_index >= 6)))
        session.execute(delete(AnswerRecord).where(AnswerRecord.id.in_(lost)))
        session.execute(update(Commit).values(egressed_at=None))
        session.commit()
    assert _egress(runtime) == (1, 4)
    assert _rows(runtime) == complete

    with runtime.sessions() as session:
        session.execute(update(Commit).values(egressed_at=None))
        session.commit()
    assert _egress(runtime) == (1, 0)
    assert _rows(runtime) == complete


def test_identical_uploads_are_answered_once_and_both_have_their_results(
    runtime: Runtime,
) -> None:
    data = question_csv(6)
    first = upload(runtime, data)
    assert run_pass(runtime).inserted_rows == 6
    second = upload(runtime, data, filename="again.csv")

    report = run_pass(runtime)

    # The second job (over the repo's HEAD: both files) finds every datum already done under
    # this pipeline version: nothing is recomputed and the answers table keeps one row per
    # row of the content, the first upload's.
    assert [(job.state, job.total, job.processed, job.skipped) for job in report.jobs] == [
        ("done", 2, 0, 2)
    ]
    assert report.inserted_rows == 0
    rows = stored_answers(runtime)
    assert [(r.upload_id, r.row_index) for r in rows] == [(first.id, i) for i in range(6)]
    assert {r.input_sha256 for r in rows} == {second.sha256}
    with runtime.sessions() as session:
        results = [
            pipeline_service.upload_results(session=session, upload_id=u.id)
            for u in (first, second)
        ]
    assert results[0].blobs == results[1].blobs
    assert [r.total_rows for r in results] == [6, 6]


def test_identical_uploads_in_one_pass_are_answered_once(runtime: Runtime) -> None:
    data = question_csv(5)
    uploads = [upload(runtime, data), upload(runtime, data, filename="again.csv")]

    report = run_pass(runtime)

    assert report.inserted_rows == 5
    assert [r.row_index for r in stored_answers(runtime)] == list(range(5))
    with runtime.sessions() as session:
        for item in uploads:
            results = pipeline_service.upload_results(session=session, upload_id=item.id)
            assert results.total_rows == 5


def _forget_egress(runtime: Runtime, commit_ids: list[str]) -> None:
    """As if these output commits had never been written to SQL."""
    with runtime.sessions() as session:
        session.execute(delete(AnswerRecord).where(AnswerRecord.output_commit_id.in_(commit_ids)))
        session.execute(update(Commit).where(Commit.id.in_(commit_ids)).values(egressed_at=None))
        session.commit()


def _output_commit(runtime: Runtime, job_id: str) -> str:
    with runtime.sessions() as session:
        commit_id = session.get_one(Job, job_id).output_commit_id
    assert commit_id is not None
    return commit_id


def test_an_unreadable_commit_does_not_hold_back_the_ones_after_it(runtime: Runtime) -> None:
    upload(runtime, question_csv(3))
    upload(runtime, question_csv(5, first=10), "later.csv")
    first, second = (_output_commit(runtime, job.job_id) for job in run_pass(runtime).jobs)
    _forget_egress(runtime, [first, second])
    with runtime.sessions() as session:
        [blob] = [
            c.blob_sha256
            for c in commit_changes(session=session, commit=session.get_one(Commit, first))
        ]
    key = blob_key(blob)
    saved = runtime.store.get_bytes(key)
    runtime.store.delete(key)

    report = push_answers_to_sql(session_factory=runtime.sessions, store=runtime.store)

    assert (report.commits, report.inserted, list(report.failed)) == (1, 5, [first])
    assert {a.output_commit_id for a in stored_answers(runtime)} == {second}
    runtime.store.put_bytes(key, saved)
    assert _egress(runtime) == (1, 3)
    assert len(stored_answers(runtime)) == 8


def test_lineage_of_a_file_gone_from_the_input_repo_comes_from_the_job_s_commit(
    runtime: Runtime,
) -> None:
    # A file committed to the input repo by other means than an upload, later deleted.
    data = question_csv(4)
    with runtime.sessions() as session:
        repo = ensure_repo(session=session, name="uploads", kind=RepoKind.INPUT)
        sha = store_blob_bytes(session=session, store=runtime.store, data=data)
        create_commit(
            session=session, repo=repo, puts={"team/q.csv": sha}, origin=CommitOrigin.UPLOAD
        )
        session.commit()
    [job] = run_pass(runtime).jobs
    output = _output_commit(runtime, job.job_id)
    with runtime.sessions() as session:
        create_commit(
            session=session, repo=repo, puts={}, deletes=["team/q.csv"], origin=CommitOrigin.UPLOAD
        )
        session.commit()
    run_pass(runtime)
    _forget_egress(runtime, [output])

    assert _egress(runtime) == (1, 4)
    answers = [a for a in stored_answers(runtime) if a.output_commit_id == output]
    assert [(a.input_sha256, a.upload_id, a.row_index) for a in answers] == [
        (sha, None, n) for n in range(4)
    ]
