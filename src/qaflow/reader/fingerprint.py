"""Which weights a model reference names right now: a fingerprint of their content.

A reference (hub id, directory, ``bundled:<name>``) can name other weights tomorrow: a model
re-trained into the same directory, an upgrade shipping new bundled weights. The revision
tells them apart. A directory's revision hashes the bytes of its config, tokenizer and weight
files, so copies of one model agree and a rewrite is seen even when size and mtime are kept.
A hub id's revision is the commit of its snapshot in the local hub cache.

Hashing ~100 MB of weights is done once per process and file state: the digests are kept,
keyed by the file's path, size, mtime, ctime and inode. ctime cannot be set back by a writer,
so a rewrite that restores size and mtime still changes the key.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from qaflow.errors import ModelLoadError
from qaflow.reader.bundled import resolve_ref

# Bump when the recipe below changes: revisions pinned by an older recipe then differ.
REVISION_FORMAT = 1
_CONTENT_PREFIX = "sha256:"
_HUB_PREFIX = "hub:"
_CONFIG_FILES = frozenset(
    {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
    }
)
# Weights; not model cards, metrics or training state.
_WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json")
_SENTENCEPIECE_SUFFIX = ".model"
_COMMIT = re.compile(r"[0-9a-f]{40}")
# A file changed this recently may change again within the clock's granularity unseen by
# ctime: its digest is not kept (git's "racy clean" problem).
_SETTLE_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class _FileState:
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: Path) -> _FileState:
        stat = path.stat()
        return cls(
            str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev
        )


class DigestCache:
    """SHA-256 of files' bytes, kept while a file's state (size, times, inode) is unchanged."""

    def __init__(self, *, settle_ns: int = _SETTLE_NS) -> None:
        self._settle_ns = settle_ns
        self._digests: dict[_FileState, str] = {}
        self._lock = threading.Lock()
        self.hashed_files = 0

    def digest(self, path: Path) -> str:
        """The file's content digest; hashed only when its state is new. Raises OSError."""
        state = _FileState.of(path)
        with self._lock:
            known = self._digests.get(state)
        if known is not None:
            return known
        started = time.time_ns()
        digest = _hash_file(path)
        self.hashed_files += 1
        after = _FileState.of(path)
        if after != state:
            raise OSError(f"{path} changed while it was read")
        if max(state.mtime_ns, state.ctime_ns) < started - self._settle_ns:
            with self._lock:
                self._digests[state] = digest
        return digest


@functools.cache
def _default_cache() -> DigestCache:
    """The process's digest cache, made on first use (nothing is built at import)."""
    return DigestCache()


def model_revision(
    model_ref: str, tokenizer_ref: str | None = None, *, cache: DigestCache | None = None
) -> str:
    """The revision of the weights (and tokenizer) the references name now.

    ``sha256:<hex>`` for a directory, ``hub:<commit>`` for a hub id whose snapshot is in the
    local hub cache (downloaded first if it is not). A tokenizer from elsewhere is folded in.
    Raises :class:`ModelLoadError` naming the reference when it cannot be read.
    """
    revision = _revision_of(model_ref, cache or _default_cache())
    if tokenizer_ref is None or tokenizer_ref == model_ref:
        return revision
    tokenizer = _revision_of(tokenizer_ref, cache or _default_cache())
    combined = hashlib.sha256(f"{revision}\0{tokenizer}".encode()).hexdigest()
    return _CONTENT_PREFIX + combined


def directory_fingerprint(model_dir: Path, *, cache: DigestCache | None = None) -> str:
    """Hex digest of the model files' names and bytes in ``model_dir`` (not of its path).

    Raises OSError when a file cannot be read, ModelLoadError when there is no model file.
    """
    files = sorted(p for p in model_dir.iterdir() if _is_model_file(p.name) and p.is_file())
    if not files:
        raise ModelLoadError(
            f"Could not load model at {str(model_dir)!r}: the directory holds no config, "
            "tokenizer or weight files."
        )
    digests = cache or _default_cache()
    combined = hashlib.sha256(f"qaflow-model-{REVISION_FORMAT}\n".encode())
    for path in files:
        combined.update(f"{path.name}\0{digests.digest(path)}\n".encode())
    return combined.hexdigest()


def resolve_model_dir(ref: str) -> Path:
    """A local model directory as is; a hub id as its local snapshot (downloaded if need be)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path.resolve()
    from huggingface_hub import snapshot_download

    # Config, tokenizer and PyTorch weights only: hub repos often also hold TF/Flax/ONNX copies.
    files = ["*.json", "*.txt", "*.model", "*.safetensors"]
    snapshot = Path(snapshot_download(ref, allow_patterns=files))
    if not any(snapshot.glob("*.safetensors")):
        snapshot = Path(snapshot_download(ref, allow_patterns=[*files, "*.bin"]))
    return snapshot


def _revision_of(ref: str, cache: DigestCache) -> str:
    resolved = resolve_ref(ref)
    path = Path(resolved).expanduser()
    if not path.is_dir() and (
        path.exists() or path.is_absolute() or resolved.startswith((".", "~"))
    ):
        raise ModelLoadError(
            f"Could not read the weights of model {ref!r}: directory {str(path)!r} does not exist."
        )
    try:
        if path.is_dir():
            return _CONTENT_PREFIX + directory_fingerprint(path.resolve(), cache=cache)
        snapshot = _cached_snapshot(resolved) or resolve_model_dir(resolved)
        if _COMMIT.fullmatch(snapshot.name):
            return _HUB_PREFIX + snapshot.name
        return _CONTENT_PREFIX + directory_fingerprint(snapshot, cache=cache)
    except ModelLoadError:
        raise
    except Exception as exc:  # OSError, hub validation or download errors
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelLoadError(
            f"Could not read the weights of model {ref!r} to fingerprint them: {reason}"
        ) from exc


def _cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot directory the local hub cache holds for ``repo_id``'s main ref, if any."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def is_config_file(name: str) -> bool:
    """A model directory's configuration or tokenizer file: what defines it besides weights."""
    return name in _CONFIG_FILES or name.endswith(_SENTENCEPIECE_SUFFIX)


def _is_model_file(name: str) -> bool:
    if is_config_file(name) or name.endswith(_WEIGHT_SUFFIXES):
        return True
    return name.startswith("pytorch_model") and name.endswith((".bin", ".bin.index.json"))


def _hash_file(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()
