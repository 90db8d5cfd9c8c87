"""The reader cache: one load per spec, shared across threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from qaflow.errors import ModelLoadError
from qaflow.reader import ModelSpec, Reader, ReaderCache, ReaderOptions, load_reader
from tests.support.threads import run_threads


class CountingLoader:
    """The real loader, counting its calls per spec."""

    def __init__(self) -> None:
        self.calls: list[ModelSpec] = []
        self._lock = threading.Lock()

    def __call__(
        self, spec: ModelSpec, *, options: ReaderOptions | None, threads: int | None
    ) -> Reader:
        with self._lock:
            self.calls.append(spec)
        return load_reader(spec, options=options, threads=threads)


def test_same_spec_same_reader_loaded_once(tiny_spec: ModelSpec) -> None:
    loader = CountingLoader()
    cache = ReaderCache(loader=loader)
    first = cache.get(tiny_spec)
    assert cache.get(ModelSpec(tiny_spec.name, tiny_spec.model, tiny_spec.tokenizer)) is first
    assert loader.calls == [tiny_spec]
    assert tiny_spec in cache


def test_concurrent_first_use_loads_once(tiny_spec: ModelSpec) -> None:
    loader = CountingLoader()
    cache = ReaderCache(loader=loader)
    readers: list[Reader] = []
    threads = [
        threading.Thread(target=lambda: readers.append(cache.get(tiny_spec))) for _ in range(8)
    ]
    run_threads(threads, 120)
    assert len(loader.calls) == 1
    assert len(readers) == 8
    assert all(reader is readers[0] for reader in readers)


def test_distinct_specs_get_distinct_readers(tiny_model_dir: Path) -> None:
    cache = ReaderCache()
    one = cache.get(ModelSpec("one", str(tiny_model_dir), str(tiny_model_dir)))
    two = cache.get(ModelSpec("two", str(tiny_model_dir), str(tiny_model_dir)))
    assert one is not two
    assert len(cache) == 2


def test_clear_forces_a_reload(tiny_spec: ModelSpec) -> None:
    loader = CountingLoader()
    cache = ReaderCache(options=ReaderOptions(batch_size=4), loader=loader)
    first = cache.get(tiny_spec)
    assert first.options.batch_size == 4
    cache.clear()
    assert cache.get(tiny_spec) is not first
    assert len(loader.calls) == 2


def test_failed_load_is_not_cached(tmp_path: Path) -> None:
    loader = CountingLoader()
    cache = ReaderCache(loader=loader)
    spec = ModelSpec("ghost", str(tmp_path / "absent"), str(tmp_path / "absent"))
    for _ in range(2):
        with pytest.raises(ModelLoadError):
            cache.get(spec)
    assert len(loader.calls) == 2
    assert spec not in cache


def test_least_recently_used_reader_is_dropped_beyond_the_bound(tiny_model_dir: Path) -> None:
    loader = CountingLoader()
    cache = ReaderCache(loader=loader, max_readers=2)
    one, two, three = (
        ModelSpec(name, str(tiny_model_dir), str(tiny_model_dir)) for name in ("1", "2", "3")
    )
    first = cache.get(one)
    cache.get(two)
    assert cache.get(one) is first  # one is now the most recently used
    cache.get(three)
    assert len(cache) == 2
    assert [spec in cache for spec in (one, two, three)] == [True, False, True]
    cache.get(two)  # loaded again
    assert [spec.name for spec in loader.calls] == ["1", "2", "3", "2"]
    assert one not in cache


def test_a_new_weights_revision_ages_the_old_one_out(tiny_model_dir: Path) -> None:
    loader = CountingLoader()
    cache = ReaderCache(loader=loader, max_readers=1)
    old = ModelSpec("m", str(tiny_model_dir), str(tiny_model_dir), revision="sha256:old")
    new = ModelSpec("m", str(tiny_model_dir), str(tiny_model_dir), revision="sha256:new")
    cache.get(old)
    cache.get(new)
    assert [spec in cache for spec in (old, new)] == [False, True]
    assert len(cache) == 1


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_readers"):
        ReaderCache(max_readers=0)


def test_options_given_to_get_make_their_own_reader(tiny_spec: ModelSpec) -> None:
    loader = CountingLoader()
    cache = ReaderCache(options=ReaderOptions(batch_size=4), loader=loader)
    default = cache.get(tiny_spec)
    wide = cache.get(tiny_spec, ReaderOptions(max_seq_len=128, doc_stride=32))
    assert (default.options.batch_size, wide.options.max_seq_len) == (4, 128)
    assert wide is not default
    assert cache.get(tiny_spec, ReaderOptions(max_seq_len=128, doc_stride=32)) is wide
    assert cache.get(tiny_spec, ReaderOptions(batch_size=4)) is default  # same as the cache's
    assert len(loader.calls) == 2


def test_the_bound_counts_every_spec_and_options_together(tiny_spec: ModelSpec) -> None:
    loader = CountingLoader()
    cache = ReaderCache(loader=loader, max_readers=2)
    settings = [ReaderOptions(max_seq_len=n, doc_stride=16) for n in (96, 112, 128)]
    for options in settings:
        cache.get(tiny_spec, options)
    assert len(cache) == 2
    assert tiny_spec in cache
    cache.get(tiny_spec, settings[0])  # the oldest was dropped: loaded again
    assert len(loader.calls) == 4
