"""The ObjectStore contract against a local directory, file://, SeaweedFS S3 and a GCS emulator."""

from __future__ import annotations

import hashlib

import pytest

from qaflow.errors import InvalidInputError, NotFoundError
from qaflow.storage import ObjectInfo, ObjectStore
from tests.storage.conftest import StoreOpener
from tests.storage.sources import MIB, chunks_of, digest_of_source, source_of

# Bigger than a remote store's upload block (8 MiB): a multipart/resumable upload is under way.
LARGE_SIZE = 12 * MIB + 123


def write_large_then_fail(store: ObjectStore, key: str) -> None:
    def attempt() -> None:
        with store.open_write(key) as target:
            for chunk in chunks_of(LARGE_SIZE):
                target.write(chunk)
            raise RuntimeError("client failed mid-write")

    with pytest.raises(RuntimeError, match="client failed"):
        attempt()


def test_bytes_round_trip(store: ObjectStore) -> None:
    store.put_bytes("a/b.bin", b"\x00payload\xff")
    store.put_bytes("empty", b"")

    assert store.get_bytes("a/b.bin") == b"\x00payload\xff"
    assert store.get_bytes("empty") == b""
    assert store.size("a/b.bin") == 9
    assert store.size("empty") == 0


def test_put_bytes_replaces_existing_object(store: ObjectStore) -> None:
    store.put_bytes("k", b"first version")
    store.put_bytes("k", b"second")

    assert store.get_bytes("k") == b"second"


def test_streaming_write_and_read_in_chunks(store: ObjectStore) -> None:
    with store.open_write("big/object.bin") as target:
        for chunk in chunks_of(LARGE_SIZE):
            target.write(chunk)

    digest = hashlib.sha256()
    total = 0
    with store.open_read("big/object.bin") as source:
        while chunk := source.read(MIB):
            assert len(chunk) <= MIB
            digest.update(chunk)
            total += len(chunk)
    assert total == LARGE_SIZE
    assert digest.hexdigest() == digest_of_source(LARGE_SIZE)
    assert store.size("big/object.bin") == LARGE_SIZE


def test_put_file_copies_a_stream_and_counts_bytes(store: ObjectStore) -> None:
    written = store.put_file("copied.bin", source_of(LARGE_SIZE))

    assert written == LARGE_SIZE
    assert store.size("copied.bin") == LARGE_SIZE
    assert hashlib.sha256(store.get_bytes("copied.bin")).hexdigest() == digest_of_source(LARGE_SIZE)


def test_open_read_supports_seek_and_tell(store: ObjectStore) -> None:
    store.put_bytes("seekable", b"0123456789")

    with store.open_read("seekable") as source:
        source.seek(4)
        assert source.read(3) == b"456"
        assert source.tell() == 7


def test_object_is_invisible_until_the_write_completes(store: ObjectStore) -> None:
    store.put_bytes("replaced", b"old")

    with store.open_write("fresh") as fresh, store.open_write("replaced") as replaced:
        fresh.write(b"new object")
        replaced.write(b"new content")
        assert not store.exists("fresh")
        assert store.get_bytes("replaced") == b"old"
        assert [info.key for info in store.list()] == ["replaced"]

    assert store.get_bytes("fresh") == b"new object"
    assert store.get_bytes("replaced") == b"new content"


def test_failed_write_leaves_nothing_behind(store: ObjectStore) -> None:
    write_large_then_fail(store, "dir/partial.bin")

    assert not store.exists("dir/partial.bin")
    assert list(store.list()) == []
    with pytest.raises(NotFoundError):
        store.get_bytes("dir/partial.bin")


def test_failed_overwrite_keeps_previous_content(store: ObjectStore) -> None:
    store.put_bytes("kept.txt", b"previous content")

    write_large_then_fail(store, "kept.txt")

    assert store.get_bytes("kept.txt") == b"previous content"
    assert list(store.list()) == [ObjectInfo("kept.txt", 16)]


def test_list_is_recursive_sorted_and_filtered_by_prefix(store: ObjectStore) -> None:
    for key, data in {
        "incoming/b.csv": b"bb",
        "incoming/a.csv": b"a",
        "incoming/sub/c.csv": b"ccc",
        "incomingness": b"dddd",
        "outgoing/x": b"",
    }.items():
        store.put_bytes(key, data)

    assert [info.key for info in store.list()] == [
        "incoming/a.csv",
        "incoming/b.csv",
        "incoming/sub/c.csv",
        "incomingness",
        "outgoing/x",
    ]
    assert list(store.list("incoming/")) == [
        ObjectInfo("incoming/a.csv", 1),
        ObjectInfo("incoming/b.csv", 2),
        ObjectInfo("incoming/sub/c.csv", 3),
    ]
    assert [info.key for info in store.list("incoming")] == [
        "incoming/a.csv",
        "incoming/b.csv",
        "incoming/sub/c.csv",
        "incomingness",
    ]
    assert [info.key for info in store.list("incoming/s")] == ["incoming/sub/c.csv"]
    assert list(store.list("nothing/here/")) == []


def test_exists_and_delete(store: ObjectStore) -> None:
    store.put_bytes("dir/file", b"x")

    assert store.exists("dir/file")
    assert not store.exists("dir")  # a prefix of objects is not an object
    assert not store.exists("dir/other")

    store.delete("dir/file")

    assert not store.exists("dir/file")
    assert list(store.list()) == []


def test_missing_object_raises_not_found(store: ObjectStore) -> None:
    store.put_bytes("dir/present", b"x")

    with pytest.raises(NotFoundError, match="missing"):
        store.get_bytes("missing")
    with pytest.raises(NotFoundError), store.open_read("dir/missing"):
        pass
    with pytest.raises(NotFoundError):
        store.size("missing")
    with pytest.raises(NotFoundError):
        store.delete("missing")
    with pytest.raises(NotFoundError):
        store.delete("dir")


@pytest.mark.parametrize(
    "bad_key",
    ["", "/abs", "..", "a/../b", "./a", "a//b", "a/", "back\\slash", "nul\x00byte", "new\nline"],
)
def test_bad_keys_are_rejected(store: ObjectStore, bad_key: str) -> None:
    with pytest.raises(InvalidInputError):
        store.put_bytes(bad_key, b"x")
    with pytest.raises(InvalidInputError):
        store.get_bytes(bad_key)
    with pytest.raises(InvalidInputError):
        store.exists(bad_key)
    with pytest.raises(InvalidInputError):
        store.open_write(bad_key)


@pytest.mark.parametrize("bad_prefix", ["/", "/abs", "../x", "a\\b"])
def test_bad_prefixes_are_rejected(store: ObjectStore, bad_prefix: str) -> None:
    with pytest.raises(InvalidInputError):
        store.list(bad_prefix)


def test_unicode_keys(store: ObjectStore) -> None:
    key = "données/日本語 ü+%20 file.txt"
    store.put_bytes(key, "héllo".encode())

    assert store.get_bytes(key) == "héllo".encode()
    assert store.exists(key)
    assert list(store.list("données/")) == [ObjectInfo(key, 6)]


def test_second_store_on_same_root_sees_writes_and_deletes(
    open_test_store: StoreOpener,
) -> None:
    store, other = open_test_store(), open_test_store()
    store.put_bytes("warm/cache", b"x")
    assert [info.key for info in other.list()] == ["warm/cache"]
    assert other.exists("warm/cache")

    store.put_bytes("warm/new", b"yy")
    store.delete("warm/cache")

    assert [info.key for info in other.list("warm/")] == [ObjectInfo("warm/new", 2).key]
    assert not other.exists("warm/cache")
