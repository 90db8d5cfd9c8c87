"""Model revisions: the content of the weights behind a reference, not its name or file times."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qaflow.errors import ModelLoadError
from qaflow.reader.bundled import BUNDLED_PREFIX, bundled_models, bundled_root
from qaflow.reader.fingerprint import DigestCache, directory_fingerprint, model_revision

WEIGHTS = "model.safetensors"


@pytest.fixture
def model_copy(tmp_path: Path, tiny_model_dir: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def rewrite_in_place(path: Path) -> None:
    """Flip the last byte (tensor data), keeping the size, the inode and the mtime."""
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_the_revision_is_stable_and_names_content_not_place(
    model_copy: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    revision = model_revision(str(model_copy))
    assert revision.startswith("sha256:")
    assert model_revision(str(model_copy)) == revision
    assert model_revision(str(tiny_model_dir)) == revision
    other = Path(shutil.copytree(model_copy, tmp_path / "elsewhere"))
    assert model_revision(str(other)) == revision


def test_a_rewrite_keeping_size_and_mtime_changes_the_revision(model_copy: Path) -> None:
    before = model_revision(str(model_copy))

    rewrite_in_place(model_copy / WEIGHTS)

    assert model_revision(str(model_copy)) != before


def test_config_and_tokenizer_count_but_model_cards_do_not(model_copy: Path) -> None:
    before = model_revision(str(model_copy))
    (model_copy / "README.md").write_text("# a model card\n", encoding="utf-8")
    (model_copy / "metrics.json").write_text('{"f1": 1.0}\n', encoding="utf-8")
    assert model_revision(str(model_copy)) == before

    vocab = model_copy / "vocab.txt"
    vocab.write_text(vocab.read_text(encoding="utf-8") + "qaflowtoken\n", encoding="utf-8")
    assert model_revision(str(model_copy)) != before


def test_a_tokenizer_from_elsewhere_is_folded_in(
    model_copy: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    tokenizer_dir = tmp_path / "tokenizer"
    tokenizer_dir.mkdir()
    shutil.copy2(model_copy / "vocab.txt", tokenizer_dir / "vocab.txt")
    alone = model_revision(str(model_copy))
    paired = model_revision(str(model_copy), str(tokenizer_dir))
    assert paired != alone
    assert model_revision(str(model_copy), str(model_copy)) == alone

    (tokenizer_dir / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    assert model_revision(str(model_copy), str(tokenizer_dir)) != paired


def test_digests_are_kept_until_the_file_changes(model_copy: Path) -> None:
    cache = DigestCache(settle_ns=0)
    first = directory_fingerprint(model_copy, cache=cache)
    hashed = cache.hashed_files
    assert hashed >= 2  # config, tokenizer and weights

    assert directory_fingerprint(model_copy, cache=cache) == first
    assert cache.hashed_files == hashed  # nothing read again

    (model_copy / WEIGHTS).write_bytes((model_copy / WEIGHTS).read_bytes() + b" ")
    assert directory_fingerprint(model_copy, cache=cache) != first
    assert cache.hashed_files == hashed + 1


def test_a_bundled_reference_is_its_packaged_directory() -> None:
    name = bundled_models()[0]
    revision = model_revision(BUNDLED_PREFIX + name)
    assert revision == model_revision(str(bundled_root() / name))


def test_a_hub_id_is_the_commit_of_its_cached_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--qaflow--tiny-qa"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    assert model_revision("qaflow/tiny-qa") == f"hub:{commit}"


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("/no/such/model", "does not exist"),
        (f"{BUNDLED_PREFIX}no-such-model", "ships no bundled model"),
        ("qaflow/not-in-the-hub-cache", "qaflow/not-in-the-hub-cache"),
    ],
)
def test_unreadable_references_raise_model_load_error(ref: str, reason: str) -> None:
    with pytest.raises(ModelLoadError, match=reason):
        model_revision(ref)


def test_a_directory_without_model_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not a model\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="no config, tokenizer or weight files"):
        model_revision(str(tmp_path))
