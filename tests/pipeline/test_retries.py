"""A datum that fails for a while is retried until it succeeds, within its tries."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from qaflow.config import Settings
from qaflow.db import Datum, DatumState
from qaflow.pipeline.worker import RunReport
from qaflow.services.runtime import open_runtime
from qaflow.versioning import blob_key
from tests.pipeline.pipeline_support import (
    question_csv,
    run_pass,
    stored_answers,
    update_pipeline,
    upload,
)

WAIT_S = 120


def test_a_blob_missing_at_first_is_found_on_a_later_try(pipeline_settings: Settings) -> None:
    settings = pipeline_settings.model_copy(update={"retry_backoff_s": 1.0})
    with open_runtime(settings) as runtime:
        uploaded = upload(runtime, question_csv(10))
        update_pipeline(runtime, datum_tries=5)
        key = blob_key(uploaded.sha256)
        content = runtime.store.get_bytes(key)
        runtime.store.delete(key)
        reports: list[RunReport] = []
        worker = threading.Thread(target=lambda: reports.append(run_pass(runtime)))
        worker.start()
        failed_first = None
        try:
            failed_first = _wait_for_a_failed_try(runtime.sessions)
        finally:
            # Back before the first retry (a second away): the next try finds it.
            runtime.store.put_bytes(key, content)
            worker.join(WAIT_S)

        [job] = reports[0].jobs
        assert (job.state, job.processed, job.failed) == ("done", 3, 0)
        with runtime.sessions() as session:
            datums = list(session.scalars(select(Datum)))
        assert {d.state for d in datums} == {DatumState.DONE}
        retried = next(d for d in datums if d.id == failed_first)
        assert (retried.tries, retried.error) == (2, None)
        assert len(stored_answers(runtime)) == 10


def _wait_for_a_failed_try(sessions: sessionmaker[Session]) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with sessions() as session:
            tried = session.scalars(select(Datum).where(Datum.tries >= 1)).first()
            if tried is not None:
                assert tried.error is not None
                assert "no object" in tried.error
                return tried.id
        time.sleep(0.01)
    raise AssertionError("no datum was tried in time")
