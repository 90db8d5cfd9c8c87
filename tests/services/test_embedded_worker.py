"""The embedded pipeline worker keeps trying to start until it can, and says why meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from qaflow.config import Settings
from qaflow.db import create_db_engine, create_session_factory
from qaflow.services.pipeline_worker import EmbeddedWorker
from qaflow.services.runtime import open_runtime
from qaflow.storage import open_store


def test_a_worker_that_cannot_start_retries_until_the_database_is_there(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    settings = _settings(tmp_path, tiny_model_dir)  # not migrated: the worker finds no tables
    engine = create_db_engine(settings.resolved_database_url)
    worker = EmbeddedWorker(
        settings=settings,
        session_factory=create_session_factory(engine),
        store=open_store(settings),
        first_retry_s=0.05,
        max_retry_s=0.2,
    )
    worker.start()
    try:
        _wait_until(lambda: worker.problem is not None)
        assert "OperationalError" in (worker.problem or "")
        assert not worker.running

        with open_runtime(settings):  # creates and migrates the database
            pass
        _wait_until(lambda: worker.running)
        assert worker.problem is None
    finally:
        worker.stop()
        engine.dispose()
    assert not worker.running


def test_a_running_worker_whose_passes_fail_says_why_until_they_work(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    settings = _settings(tmp_path, tiny_model_dir)
    with open_runtime(settings) as runtime:
        worker = EmbeddedWorker(
            settings=settings, session_factory=runtime.sessions, store=runtime.store
        )
        worker.start()
        try:
            _wait_until(lambda: worker.running)
            assert worker.problem is None
            with runtime.engine.begin() as connection:  # passes cannot find their jobs now
                connection.execute(text("ALTER TABLE jobs RENAME TO jobs_away"))

            _wait_until(lambda: worker.problem is not None)
            assert "jobs" in (worker.problem or "")
            assert worker.running

            with runtime.engine.begin() as connection:
                connection.execute(text("ALTER TABLE jobs_away RENAME TO jobs"))
            _wait_until(lambda: worker.problem is None, timeout_s=120)
        finally:
            worker.stop()


def _settings(tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'qaflow.db'}",
        default_model="tiny",
        default_model_ref=str(model_dir),
        default_model_backend="torch",
        worker_poll_s=0.05,
    )


def _wait_until(condition: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)
