"""Local-directory specifics: root creation, temp files, empty directories, settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qaflow.config import Settings
from qaflow.errors import StorageError
from qaflow.storage import open_store, open_store_url


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_root_directory_is_created(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet" / "there"

    store = open_store_url(str(root))

    assert root.is_dir()
    assert store.url == str(root)


def test_file_url_and_plain_path_address_the_same_objects(tmp_path: Path) -> None:
    open_store_url(f"file://{tmp_path}").put_bytes("a/b.txt", b"x")

    assert open_store_url(str(tmp_path)).get_bytes("a/b.txt") == b"x"
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"x"


def test_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    store = open_store_url(str(tmp_path))
    store.put_bytes("dir/kept", b"old")

    def attempt() -> None:
        with store.open_write("dir/kept") as target:
            target.write(b"new")
            assert len(files_under(tmp_path)) == 2  # the object and its staged replacement
            raise RuntimeError("client failed")

    with pytest.raises(RuntimeError):
        attempt()

    assert files_under(tmp_path) == ["dir/kept"]


def test_delete_removes_emptied_directories_but_not_the_root(tmp_path: Path) -> None:
    store = open_store_url(str(tmp_path / "root"))
    store.put_bytes("a/b/c.txt", b"x")
    store.put_bytes("a/d.txt", b"y")

    store.delete("a/b/c.txt")
    assert sorted(os.listdir(tmp_path / "root" / "a")) == ["d.txt"]
    store.delete("a/d.txt")

    assert os.listdir(tmp_path / "root") == []


def test_written_objects_are_readable_by_others(tmp_path: Path) -> None:
    store = open_store_url(str(tmp_path))
    store.put_bytes("shared.txt", b"x")

    assert (tmp_path / "shared.txt").stat().st_mode & 0o044 == 0o044


def test_object_where_a_directory_is_needed_is_a_storage_error(tmp_path: Path) -> None:
    store = open_store_url(str(tmp_path))
    store.put_bytes("a", b"file")

    with pytest.raises(StorageError, match="'a/b'"):
        store.put_bytes("a/b", b"x")
    assert not store.exists("a/b")


def test_stream_is_unusable_after_close(tmp_path: Path) -> None:
    store = open_store_url(str(tmp_path))

    with store.open_write("k") as target:
        target.write(b"kept")
        target.close()
        with pytest.raises(ValueError, match="closed"):
            target.write(b"x")

    assert store.get_bytes("k") == b"kept"


def test_open_store_defaults_to_the_home_storage_directory(tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path))

    store.put_bytes("x", b"1")

    assert (tmp_path / "storage" / "x").read_bytes() == b"1"
