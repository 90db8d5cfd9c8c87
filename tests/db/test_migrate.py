from __future__ import annotations

import io
import subprocess
import sys
import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from qaflow.db import (
    Base,
    alembic_config,
    create_db_engine,
    current_revision,
    head_revision,
    upgrade_database,
)
from qaflow.errors import ConfigurationError
from tests.support.threads import run_threads

TABLES = {"alembic_version", *Base.metadata.tables}


def test_empty_database_has_no_revision(db_engine: Engine) -> None:
    assert current_revision(db_engine) is None


def test_upgrade_creates_schema_and_is_idempotent(db_engine: Engine) -> None:
    upgrade_database(db_engine)
    upgrade_database(db_engine)

    assert current_revision(db_engine) == head_revision()
    assert set(inspect(db_engine).get_table_names()) == TABLES
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_migrations_match_models(db_engine: Engine) -> None:
    upgrade_database(db_engine)
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_explicitly_named_constraints_exist(db_engine: Engine) -> None:
    upgrade_database(db_engine)
    inspector = inspect(db_engine)
    unique = {c["name"] for c in inspector.get_unique_constraints("answers")}
    checks = {c["name"] for c in inspector.get_check_constraints("answers")}
    indexes = {i["name"] for i in inspector.get_indexes("answers")}
    assert "uq_answers_datum_row" not in unique  # dropped by 0005: files share datums
    assert "ck_answers_answer_source" in checks
    assert {
        "ix_answers_created_at_model_name",
        "ix_answers_model_name",
        "uq_answers_batch_row",
    } <= indexes
    assert {c["name"] for c in inspector.get_unique_constraints("models")} == {"uq_models_name"}


def test_concurrent_upgrades_all_succeed(database_url: str) -> None:
    workers = 4
    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []
    engines = [create_db_engine(database_url) for _ in range(workers)]

    def upgrade(engine: Engine) -> None:
        try:
            barrier.wait(timeout=30)
            upgrade_database(engine)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=upgrade, args=(engine,)) for engine in engines]
    run_threads(threads, 120)
    try:
        assert failures == []
        assert current_revision(engines[0]) == head_revision()
    finally:
        for engine in engines:
            engine.dispose()


def test_concurrent_upgrades_from_processes_all_succeed(database_url: str) -> None:
    script = (
        "import sys; from qaflow.db import create_db_engine, upgrade_database; "
        "upgrade_database(create_db_engine(sys.argv[1]))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, database_url], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [process.communicate(timeout=120)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_database_from_a_newer_qaflow_is_refused(db_engine: Engine) -> None:
    upgrade_database(db_engine)
    with db_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(ConfigurationError, match="9999_future"):
        upgrade_database(db_engine)


def test_downgrade_to_base_removes_tables(db_engine: Engine) -> None:
    upgrade_database(db_engine)
    with db_engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), "base")
    assert set(inspect(db_engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(db_engine) is None


def test_alembic_commands_work_from_a_url(database_url: str) -> None:
    # The developer path: no connection passed, env.py builds its own engine.
    command.upgrade(alembic_config(url=database_url), "head")
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite:///qaflow.db", "postgresql+psycopg://qa:p%40ss@db/qaflow"])
def test_offline_mode_renders_the_schema_as_sql(url: str) -> None:
    config = alembic_config(url=url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    rendered = config.output_buffer.getvalue()
    assert "CREATE TABLE answers" in rendered
    assert "CONSTRAINT uq_answers_datum_row UNIQUE (datum_id, row_index)" in rendered
    assert "CREATE TABLE shard_digests" in rendered
    if url.startswith("postgresql"):
        assert "ALTER TABLE answers DROP CONSTRAINT uq_answers_datum_row" in rendered
    else:  # a copy of the table without it
        assert "ALTER TABLE _alembic_tmp_answers RENAME TO answers" in rendered


def test_upgrading_past_0004_keeps_the_oldest_copy_of_a_batch_row(db_engine: Engine) -> None:
    with db_engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "0003_pipeline")
        insert = text(
            "INSERT INTO answers (created_at, model_name, question, context, answer, source, "
            "datum_id, row_index, input_sha256, pipeline_name, pipeline_version) VALUES "
            "(CURRENT_TIMESTAMP, 'm', 'q', 'c', :answer, :source, :datum, :row, :sha, :name, 1)"
        )
        for answer, source, datum, row in [
            ("first", "batch", "d-a", 0),
            ("copy", "batch", "d-b", 0),  # the same row of the same content, sharded anew
            ("other row", "batch", "d-b", 1),
            ("online", "online", None, None),
            ("online", "online", None, None),
        ]:
            sha = None if datum is None else "0" * 64
            name = None if datum is None else "qa"
            connection.execute(
                insert,
                {"answer": answer, "source": source, "datum": datum, "row": row, "sha": sha}
                | {"name": name},
            )

    upgrade_database(db_engine)

    with db_engine.connect() as connection:
        kept = connection.execute(text("SELECT answer FROM answers ORDER BY id")).scalars().all()
    assert kept == ["first", "other row", "online", "online"]


def test_0005_lets_files_share_a_datum_and_its_downgrade_keeps_every_row(
    db_engine: Engine,
) -> None:
    insert = text(
        "INSERT INTO answers (created_at, model_name, question, context, answer, source, "
        "datum_id, row_index, input_sha256, pipeline_name, pipeline_version) VALUES "
        "(CURRENT_TIMESTAMP, 'm', 'q', 'c', :answer, 'batch', 'd', 0, :sha, 'qa', 1)"
    )
    with db_engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "0004_answers_batch_row")
        connection.execute(insert, {"answer": "first file", "sha": "a" * 64})
    upgrade_database(db_engine)
    with db_engine.begin() as connection:  # another file's content, the same shared datum
        connection.execute(insert, {"answer": "second file", "sha": "b" * 64})
        shared = connection.execute(text("SELECT answer FROM answers ORDER BY id")).scalars()
        assert shared.all() == ["first file", "second file"]

    with db_engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), "0004_answers_batch_row")
        kept = connection.execute(text("SELECT answer, datum_id FROM answers ORDER BY id")).all()
    assert [tuple(row) for row in kept] == [("first file", "d"), ("second file", None)]
    unique = {c["name"] for c in inspect(db_engine).get_unique_constraints("answers")}
    assert "uq_answers_datum_row" in unique
    assert "shard_digests" not in inspect(db_engine).get_table_names()
