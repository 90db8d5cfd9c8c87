"""The pipeline end to end, in process: uploads in, answers with lineage out, exactly once."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text

from qaflow.db import Datum, DatumState, Job, JobScope, JobState
from qaflow.errors import NotFoundError
from qaflow.pipeline.shard_digests import ensure_digests
from qaflow.pipeline.worker import failure_pause
from qaflow.services import lineage_service, pipeline_service
from qaflow.services.pipeline_worker import pipeline_worker
from qaflow.services.runtime import Runtime
from qaflow.storage import open_store_url
from qaflow.versioning import blob_key
from tests.pipeline.pipeline_support import (
    OTHER_MODEL,
    question_csv,
    register_model,
    run_pass,
    stored_answers,
    update_pipeline,
    upload,
)


def test_every_row_is_answered_once_with_lineage(runtime: Runtime) -> None:
    uploaded = upload(runtime, question_csv(10, blank_questions=[3]))

    report = run_pass(runtime)

    assert [(job.state, job.total, job.processed) for job in report.jobs] == [("done", 3, 3)]
    answers = stored_answers(runtime)
    assert [a.row_index for a in answers] == list(range(10))
    assert len({(a.datum_id, a.row_index) for a in answers}) == 10
    job_id = report.jobs[0].job_id
    for answer in answers:
        assert answer.upload_id == uploaded.id
        assert answer.input_sha256 == uploaded.sha256
        assert answer.job_id == job_id
        assert answer.source == "batch"
        assert (answer.pipeline_name, answer.pipeline_version) == ("question_answer", 1)
        assert (answer.model_name, answer.model_ref) == ("tiny", runtime.settings.default_model_ref)
        assert json.loads(answer.extra_json or "{}") == {"id": str(answer.row_index)}
        assert answer.output_commit_id is not None
    blank = answers[3]
    assert blank.error == "The question is empty."
    assert (blank.answer, blank.score, blank.start_char) == ("", None, None)
    for answer in answers[:3] + answers[4:]:
        assert answer.error is None
        assert answer.context[answer.start_char : answer.end_char] == answer.answer
    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=uploaded.id)
    assert (status.state, status.datums_done, status.error_rows, status.egressed) == (
        "done",
        3,
        1,
        True,
    )


def test_uploads_under_any_file_name_are_answered(runtime: Runtime) -> None:
    # The pipeline reads ``**/*.csv`` case-sensitively; the content was checked to be a CSV.
    names = ["Data.CSV", "notes.txt", "no-suffix"]
    uploaded = [
        upload(runtime, question_csv(2, first=10 * i), name) for i, name in enumerate(names)
    ]

    run_pass(runtime)

    assert [u.filename for u in uploaded] == names
    assert [u.path.rpartition("/")[2] for u in uploaded] == [
        "Data.csv",
        "notes.txt.csv",
        "no-suffix.csv",
    ]
    answers = stored_answers(runtime)
    assert Counter(a.upload_id for a in answers) == {u.id: 2 for u in uploaded}
    assert all(a.error is None for a in answers)


def test_an_upload_the_glob_leaves_out_says_so(runtime: Runtime) -> None:
    update_pipeline(runtime, glob="team-a/**")
    uploaded = upload(runtime, question_csv(3))

    run_pass(runtime)

    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=uploaded.id)
    assert (status.state, status.datums_total, status.progress) == ("done", 0, 1.0)
    [note] = status.errors
    assert "does not match the pipeline's glob 'team-a/**'" in note
    assert stored_answers(runtime) == []


def test_a_new_upload_costs_only_its_own_datums(runtime: Runtime) -> None:
    upload(runtime, question_csv(8))
    run_pass(runtime)

    upload(runtime, question_csv(3, first=100), "more.csv")
    report = run_pass(runtime)

    assert [(job.total, job.processed, job.skipped) for job in report.jobs] == [(1, 1, 0)]
    assert len(stored_answers(runtime)) == 11


def test_rows_appended_to_a_file_cost_only_the_new_shards(runtime: Runtime) -> None:
    first = upload(runtime, question_csv(10))
    run_pass(runtime)
    appended = question_csv(10) + question_csv(5, first=10).split(b"\n", 1)[1]

    second = upload(runtime, appended, "questions-v2.csv")
    report = run_pass(runtime)

    # Shards of 4 rows: 0-4 and 4-8 are byte for byte the first file's; 8-12 and 12-15 are new.
    assert [(job.state, job.total, job.processed, job.skipped) for job in report.jobs] == [
        ("done", 4, 2, 2)
    ]
    # In SQL each file has all its rows, the shared ones naming the datums the first file made.
    answers = stored_answers(runtime)
    assert Counter(a.upload_id for a in answers) == {first.id: 10, second.id: 15}
    first_datums = {a.row_index: a.datum_id for a in answers if a.upload_id == first.id}
    shared = [a for a in answers if a.upload_id == second.id and a.row_index < 8]
    assert [a.datum_id for a in shared] == [first_datums[n] for n in range(8)]
    assert {a.input_sha256 for a in answers if a.upload_id == second.id} == {second.sha256}
    with runtime.sessions() as session:
        results = pipeline_service.upload_results(session=session, upload_id=second.id)
        status = pipeline_service.upload_status(session=session, upload_id=second.id)
    assert (status.state, status.datums_total, status.datums_done) == ("done", 4, 4)
    sink = io.BytesIO()
    pipeline_service.export_results(
        results=results, store=runtime.store, export_format="json", sink=sink
    )
    rows = json.loads(sink.getvalue())
    assert [(row["row_index"], row["extra"]["id"]) for row in rows] == [
        (n, str(n)) for n in range(15)
    ]
    assert all(row["error"] is None and row["answer"] for row in rows)
    with runtime.sessions() as session:
        datum_ids = set(session.scalars(select(Datum.id)))
    assert {a.datum_id for a in stored_answers(runtime)} <= datum_ids


def test_an_appended_file_keeps_its_progress_when_shard_rows_changes(runtime: Runtime) -> None:
    upload(runtime, question_csv(10))
    run_pass(runtime)
    appended = question_csv(10) + question_csv(5, first=10).split(b"\n", 1)[1]
    second = upload(runtime, appended, "questions-v2.csv")
    run_pass(runtime)

    update_pipeline(runtime, shard_rows=3)

    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=second.id)
    # Its cut by 4 rows, two of whose datums the first file's job made.
    assert (status.state, status.datums_total, status.datums_done) == ("done", 4, 4)


def test_a_shared_datum_is_run_again_from_the_file_that_takes_it_over(runtime: Runtime) -> None:
    first = upload(runtime, question_csv(10))
    with runtime.sessions() as session:  # its shards digested, then its blob lost: its datums
        ensure_digests(session=session, store=runtime.store, blobs={first.sha256: 10}, shard_rows=4)
    runtime.store.delete(blob_key(first.sha256))  # fail
    assert run_pass(runtime).jobs[0].failed == 3

    appended = question_csv(10) + question_csv(5, first=10).split(b"\n", 1)[1]
    second = upload(runtime, appended, "questions-v2.csv")
    report = run_pass(runtime)

    # Rows 0-8 are the first file's failed datums: read now from the second file's blob.
    assert [(job.state, job.processed, job.failed) for job in report.jobs] == [("done", 4, 0)]
    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=second.id)
    assert (status.state, status.datums_done) == ("done", 4)


def test_files_sharing_datums_in_one_job_each_get_all_their_rows(
    runtime: Runtime, other_model_dir: Path
) -> None:
    first = upload(runtime, question_csv(10))
    appended = question_csv(10) + question_csv(5, first=10).split(b"\n", 1)[1]
    second = upload(runtime, appended, "questions-v2.csv")
    run_pass(runtime)
    register_model(runtime, OTHER_MODEL, other_model_dir)
    update_pipeline(runtime, model=OTHER_MODEL, reprocess=True)

    report = run_pass(runtime)

    # One reprocess job over both files' 7 shards: the two they share are one datum each.
    assert [(job.state, job.total) for job in report.jobs] == [("done", 7)]
    with runtime.sessions() as session:
        ran = session.scalars(select(Datum).where(Datum.job_id == report.jobs[0].job_id)).all()
    assert len(ran) == 5
    version_2 = Counter(a.upload_id for a in stored_answers(runtime) if a.pipeline_version == 2)
    assert version_2 == {first.id: 10, second.id: 15}


def test_an_edited_row_costs_only_its_shard(runtime: Runtime) -> None:
    data = question_csv(12)
    upload(runtime, data)
    run_pass(runtime)

    edited = upload(runtime, data.replace(b"program 5?", b"program five?"), "edited.csv")
    report = run_pass(runtime)

    assert [(job.total, job.processed, job.skipped) for job in report.jobs] == [(3, 1, 2)]
    with runtime.sessions() as session:
        results = pipeline_service.upload_results(session=session, upload_id=edited.id)
    sink = io.BytesIO()
    pipeline_service.export_results(
        results=results, store=runtime.store, export_format="json", sink=sink
    )
    questions = [row["question"] for row in json.loads(sink.getvalue())]
    assert questions[5] == "Who wrote program five?"
    assert len(questions) == 12


def test_the_same_content_again_is_skipped_but_still_answered(runtime: Runtime) -> None:
    data = question_csv(10)
    first = upload(runtime, data)
    run_pass(runtime)

    second = upload(runtime, data, "copy.csv")
    report = run_pass(runtime)

    assert [(job.state, job.total, job.processed, job.skipped) for job in report.jobs] == [
        ("done", 3, 0, 3)
    ]
    # One row per datum and row: the copy shares the first upload's answers.
    assert Counter(a.upload_id for a in stored_answers(runtime)) == {first.id: 10}
    with runtime.sessions() as session:
        results = pipeline_service.upload_results(session=session, upload_id=second.id)
        status = pipeline_service.upload_status(session=session, upload_id=second.id)
    assert len(results.blobs) == 3
    assert status.state == "done"


def test_a_model_change_makes_a_version_that_only_new_data_uses(
    runtime: Runtime, other_model_dir: Path
) -> None:
    old = upload(runtime, question_csv(6))
    run_pass(runtime)
    register_model(runtime, OTHER_MODEL, other_model_dir)

    changed = update_pipeline(runtime, model=OTHER_MODEL)
    knob = update_pipeline(runtime, parallelism=2, shard_rows=3)
    assert (changed.new_version, changed.pipeline.version) == (True, 2)
    assert (knob.new_version, knob.pipeline.version) == (False, 2)
    assert knob.pipeline.spec["parallelism"] == 2

    new = upload(runtime, question_csv(4, first=50), "new.csv")
    report = run_pass(runtime, workers=1)

    assert len(report.jobs) == 1
    by_upload = Counter(
        (a.upload_id, a.pipeline_version, a.model_name) for a in stored_answers(runtime)
    )
    assert by_upload == {(old.id, 1, "tiny"): 6, (new.id, 2, OTHER_MODEL): 4}


def test_reprocess_reruns_old_data_and_the_diff_shows_changed_answers(
    runtime: Runtime, other_model_dir: Path
) -> None:
    old = upload(runtime, question_csv(12))
    first = run_pass(runtime).jobs[0]
    register_model(runtime, OTHER_MODEL, other_model_dir)
    new = upload(runtime, question_csv(4, first=50), "new.csv")
    result = update_pipeline(runtime, model=OTHER_MODEL, reprocess=True)
    assert result.reprocess_job_id is not None

    report = run_pass(runtime)

    states = {job.job_id: (job.state, job.total, job.processed, job.skipped) for job in report.jobs}
    # The new upload's own job and the reprocess job share the new upload's datum: one of
    # them computes it, the other skips it.
    assert states[result.reprocess_job_id][:2] == ("done", 4)
    assert sum(processed for _, _, processed, _ in states.values()) == 4
    by_upload = Counter((a.upload_id, a.pipeline_version) for a in stored_answers(runtime))
    assert by_upload == {(old.id, 1): 12, (old.id, 2): 12, (new.id, 2): 4}
    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=old.id)
    # The old upload now shows the reprocess job's results, so its status names that job.
    assert (status.job_id, status.pipeline_version, status.state) == (
        result.reprocess_job_id,
        2,
        "done",
    )
    assert (status.datums_done, status.progress) == (3, 1.0)

    with runtime.sessions() as session:
        before = session.get_one(Job, first.job_id).output_commit_id
        after = session.get_one(Job, result.reprocess_job_id).output_commit_id
        assert before is not None
        assert after is not None
        diff = lineage_service.diff_commits(
            session=session, store=runtime.store, from_id=before, to_id=after
        )
    assert diff.changed_files == [f"{old.path}/rows-{s}-{s + 4}.parquet" for s in (0, 4, 8)]
    assert diff.changed_rows, "another model's random weights answer differently"
    for row in diff.changed_rows:
        assert row.input_path == old.path
        assert (row.old_answer, row.old_error) != (row.new_answer, row.new_error)


def test_a_finished_upload_keeps_its_progress_when_shard_rows_changes(runtime: Runtime) -> None:
    uploaded = upload(runtime, question_csv(10))
    run_pass(runtime)

    update_pipeline(runtime, shard_rows=3)  # operational: same version, other row ranges

    with runtime.sessions() as session:
        status = pipeline_service.upload_status(session=session, upload_id=uploaded.id)
    # Read from the datums its job made (three of four rows), not from a cut never run.
    assert (status.state, status.datums_total, status.datums_done, status.progress) == (
        "done",
        3,
        3,
        1.0,
    )


def test_reprocess_with_other_shards_replaces_the_old_row_ranges(runtime: Runtime) -> None:
    uploaded = upload(runtime, question_csv(10))
    run_pass(runtime)
    update_pipeline(runtime, shard_rows=3, reprocess=True)

    run_pass(runtime)

    with runtime.sessions() as session:
        results = pipeline_service.upload_results(session=session, upload_id=uploaded.id)
    assert results.blob_rows == [3, 3, 3, 1]
    # Still one version, so one answer per row in SQL, though the rows were answered twice.
    assert [(a.pipeline_version, a.row_index) for a in stored_answers(runtime)] == [
        (1, n) for n in range(10)
    ]
    sink = io.BytesIO()
    written = pipeline_service.export_results(
        results=results, store=runtime.store, export_format="json", sink=sink
    )
    assert written == 10
    rows = json.loads(sink.getvalue())
    assert [(row["row_index"], row["extra"]["id"]) for row in rows] == [
        (n, str(n)) for n in range(10)
    ]


def test_a_failed_reprocess_is_rerun_when_asked_again(runtime: Runtime) -> None:
    uploaded = upload(runtime, question_csv(6))
    run_pass(runtime)
    key = blob_key(uploaded.sha256)
    content = runtime.store.get_bytes(key)
    runtime.store.delete(key)
    failing = update_pipeline(runtime, max_answer_len=20, datum_tries=1, reprocess=True)
    [failed] = run_pass(runtime).jobs
    assert (failed.job_id, failed.state) == (failing.reprocess_job_id, "failed")
    runtime.store.put_bytes(key, content)

    again = update_pipeline(runtime, reprocess=True)
    [rerun] = run_pass(runtime).jobs
    done_before = update_pipeline(runtime, reprocess=True)

    assert (again.reprocess_job_id, again.reprocess_state) == (failed.job_id, "queued")
    assert (rerun.job_id, rerun.state, rerun.processed, rerun.failed) == (
        failed.job_id,
        "done",
        2,
        0,
    )
    assert Counter(a.pipeline_version for a in stored_answers(runtime)) == {1: 6, 2: 6}
    assert done_before.reprocess_state == "done"
    assert run_pass(runtime).jobs == []


def test_reprocess_with_nothing_new_skips_every_datum(runtime: Runtime) -> None:
    upload(runtime, question_csv(10))
    run_pass(runtime)
    update_pipeline(runtime, reprocess=True)

    report = run_pass(runtime)

    assert [(job.state, job.total, job.processed, job.skipped) for job in report.jobs] == [
        ("done", 3, 0, 3)
    ]
    with runtime.sessions() as session:
        job = session.get_one(Job, report.jobs[0].job_id)
        assert job.scope == JobScope.ALL
    assert len(stored_answers(runtime)) == 10


def test_a_run_with_nothing_to_do_does_nothing(runtime: Runtime) -> None:
    report = run_pass(runtime)
    assert (report.planned, report.jobs, report.inserted_rows) == (0, [], 0)


def test_failed_datums_are_requeued_by_a_later_job(runtime: Runtime) -> None:
    from qaflow.versioning import blob_key

    uploaded = upload(runtime, question_csv(6))
    blob = runtime.store.get_bytes(blob_key(uploaded.sha256))
    runtime.store.delete(blob_key(uploaded.sha256))
    update_pipeline(runtime, datum_tries=2)

    failed = run_pass(runtime).jobs[0]

    assert (failed.state, failed.failed, failed.total) == ("failed", 2, 2)
    with runtime.sessions() as session:
        job = pipeline_service.get_job(session=session, job_id=failed.job_id)
        datums = list(session.scalars(select(Datum)))
    assert job.error is not None
    assert "no object" in job.error
    assert [(d.state, d.tries) for d in datums] == [(DatumState.FAILED, 2)] * 2
    assert len(job.failed_datums) == 2

    runtime.store.put_bytes(blob_key(uploaded.sha256), blob)
    update_pipeline(runtime, reprocess=True)
    retried = run_pass(runtime).jobs[0]

    assert (retried.state, retried.processed, retried.failed) == ("done", 2, 0)
    assert len(stored_answers(runtime)) == 6
    with runtime.sessions() as session:
        assert session.get_one(Job, failed.job_id).state == JobState.FAILED


def test_reprocessing_files_of_the_same_content_runs_their_datums_once(
    runtime: Runtime, other_model_dir: Path
) -> None:
    data = question_csv(6)
    upload(runtime, data, "a.csv")
    upload(runtime, data, "b.csv")
    run_pass(runtime)
    register_model(runtime, OTHER_MODEL, other_model_dir)
    job_id = update_pipeline(runtime, model=OTHER_MODEL, reprocess=True).reprocess_job_id

    [job] = run_pass(runtime).jobs

    assert (job.job_id, job.state, job.total, job.processed) == (job_id, "done", 4, 4)
    with runtime.sessions() as session:
        datums = list(session.scalars(select(Datum).where(Datum.job_id == job_id)))
    assert [(d.state, d.tries) for d in datums] == [(DatumState.DONE, 1)] * 2
    assert Counter(a.pipeline_version for a in stored_answers(runtime)) == {1: 6, 2: 6}


class _CountedStop(threading.Event):
    """A stop event that records each pause asked of it and ends the loop after ``passes``."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.pauses: list[float | None] = []
        self._passes = passes

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self._passes:
            self.set()
        return self.is_set()


def test_failing_passes_back_off_and_log_one_traceback(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with pipeline_worker(
        settings=runtime.settings, session_factory=runtime.sessions, store=runtime.store
    ) as worker:
        with runtime.engine.begin() as connection:  # the database loses a table under it
            connection.execute(text("ALTER TABLE pipelines RENAME TO pipelines_gone"))
        stop = _CountedStop(passes=4)
        with caplog.at_level(logging.INFO, logger="qaflow.pipeline.worker"):
            worker.run_forever(stop)

    poll = runtime.settings.worker_poll_s
    assert stop.pauses == [poll, 2 * poll, 4 * poll, 8 * poll]
    records = [r for r in caplog.records if r.name == "qaflow.pipeline.worker"]
    assert [r.exc_info is not None for r in records] == [True, False, False, False]
    assert "pass failed again (4 in a row" in records[-1].getMessage()


def test_results_recorded_but_missing_from_the_store_are_explained(
    runtime: Runtime, tmp_path: Path
) -> None:
    uploaded = upload(runtime, question_csv(4))
    run_pass(runtime)
    with runtime.sessions() as session:
        results = pipeline_service.upload_results(session=session, upload_id=uploaded.id)
    # As after QAFLOW_STORAGE_URL was pointed at another bucket: the database still has them.
    elsewhere = open_store_url(str(tmp_path / "another-bucket"))

    with pytest.raises(NotFoundError, match=r"recorded but not in this store.*QAFLOW_STORAGE_URL"):
        pipeline_service.export_results(
            results=results, store=elsewhere, export_format="csv", sink=io.BytesIO()
        )


def test_the_pause_after_failed_passes_doubles_to_a_minute_and_stays_there() -> None:
    assert [failure_pause(2.0, n) for n in (1, 2, 3, 5, 6)] == [2.0, 4.0, 8.0, 32.0, 60.0]
    assert failure_pause(2.0, 5000) == 60.0  # a day-long outage must not overflow
