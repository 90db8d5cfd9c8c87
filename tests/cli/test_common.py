"""Helpers shared by the CLI commands: files written whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import typer

from qaflow.cli._common import file_written_whole


def test_the_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with file_written_whole(target) as sink:
        sink.write(b"a,b\n")
        assert not target.exists()
    assert target.read_bytes() == b"a,b\n"
    assert list(tmp_path.iterdir()) == [target]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failure_half_way_leaves_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError, match="went away"):
        _write_then_fail(target)
    assert target.read_bytes() == b"old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_an_unwritable_place_is_an_exit_code_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit) as raised, file_written_whole(tmp_path / "nope" / "a.csv"):
        pass
    assert raised.value.exit_code == 2
    directory = tmp_path / "taken"
    directory.mkdir()
    with pytest.raises(typer.Exit):
        _write(directory, b"x")
    assert directory.is_dir()
    assert list(tmp_path.iterdir()) == [directory]


def _write(path: Path, data: bytes) -> None:
    with file_written_whole(path) as sink:
        sink.write(data)


def _write_then_fail(path: Path) -> None:
    with file_written_whole(path) as sink:
        sink.write(b"half")
        raise RuntimeError("the store went away")
