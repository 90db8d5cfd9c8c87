"""``qaflow upload`` and ``qaflow scan``, run as users run them: the installed console script."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qaflow.db import create_db_engine, create_session_factory
from qaflow.services.upload_schemas import UploadPublic
from qaflow.services.uploads import list_uploads
from qaflow.storage import open_store_url
from qaflow.versioning import blob_key
from tests.cli.console import run_qaflow
from tests.versioning.samples import BAD_FILES, GOOD_CSV, GOOD_ROWS


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QAFLOW_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_qaflow(env, *args, timeout=180)


def stored_uploads(home: Path) -> Iterator[UploadPublic]:
    engine = create_db_engine(f"sqlite:///{home / 'qaflow.db'}")
    try:
        with create_session_factory(engine)() as session:
            yield from list_uploads(session=session)
    finally:
        engine.dispose()


def test_upload_stores_good_files_and_reports_bad_ones_with_exit_2(
    env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(GOOD_CSV)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(BAD_FILES["missing_column"][0])
    missing = tmp_path / "missing.csv"

    result = run(env, "upload", str(bad), str(good), str(missing))

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{bad}: Missing required column 'context' (found columns: question, answer)." in (
        result.stderr
    )
    assert f"{missing}: cannot read the file: No such file or directory" in result.stderr
    match = re.search(
        rf"Uploaded {re.escape(str(good))}: upload (\w{{32}}), {GOOD_ROWS} rows, commit (\w{{32}})",
        result.stdout,
    )
    assert match is not None, result.stdout
    uploads = list(stored_uploads(home))
    assert [(u.id, u.commit_id, u.filename, u.origin) for u in uploads] == [
        (match[1], match[2], "good.csv", "cli")
    ]
    store = open_store_url(str(home / "storage"))
    assert store.get_bytes(blob_key(uploads[0].sha256)) == GOOD_CSV


def test_upload_of_good_files_exits_0(env: dict[str, str], home: Path, tmp_path: Path) -> None:
    paths = []
    for n in range(2):
        path = tmp_path / f"q{n}.csv"
        path.write_bytes(GOOD_CSV + f"Q{n}?,C{n}.,r\n".encode())
        paths.append(str(path))

    result = run(env, "upload", *paths)

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Uploaded ") == 2
    assert len(list(stored_uploads(home))) == 2


def test_scan_commits_incoming_files_and_rejects_bad_ones(env: dict[str, str], home: Path) -> None:
    store = open_store_url(str(home / "storage"))
    store.put_bytes("incoming/good.csv", GOOD_CSV)
    store.put_bytes("incoming/bad.csv", BAD_FILES["json"][0])

    result = run(env, "scan")

    assert result.returncode == 2, result.stderr  # a file was rejected: cron should notice
    assert "Committed good.csv: upload" in result.stdout
    assert "Rejected incoming/bad.csv: The file looks like JSON, not CSV." in result.stderr
    assert [info.key for info in store.list("incoming/")] == []
    assert store.get_bytes("rejected/bad.csv") == BAD_FILES["json"][0]
    assert [u.filename for u in stored_uploads(home)] == ["good.csv"]

    again = run(env, "scan")
    assert again.returncode == 0, again.stderr
    assert "Nothing waiting under incoming/." in again.stdout


def test_a_run_whose_scan_rejects_a_file_exits_2(env: dict[str, str], home: Path) -> None:
    store = open_store_url(str(home / "storage"))
    store.put_bytes("incoming/bad.csv", BAD_FILES["json"][0])

    result = run(env, "run", "--quiet")

    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "Rejected incoming/bad.csv (moved to rejected/): The file looks like JSON" in message
    assert store.get_bytes("rejected/bad.csv") == BAD_FILES["json"][0]
