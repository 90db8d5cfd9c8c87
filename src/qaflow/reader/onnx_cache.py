"""The on-disk cache of ONNX exports: one directory per model directory and state of its weights.

Layout: ``<cache_dir>/<fingerprint>/`` holding ``model.onnx`` (fp32), ``model-int8.onnx`` (built
on first use of int8) and ``export.json``, written last, so a directory without it is an export
that did not finish and is built again. The fingerprint hashes the content of the model's config,
tokenizer and weight files (:mod:`qaflow.reader.fingerprint`): re-training into the same
directory gives a new entry, copies of one model share theirs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qaflow.config import Settings, load_settings
from qaflow.reader.fingerprint import directory_fingerprint, resolve_model_dir
from qaflow.reader.onnx_export import OnnxPrecision, export_fp32, quantize_int8

# Bump when the export recipe changes, so that caches built by older recipes are not used.
EXPORT_FORMAT = 1
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
META_FILE = "export.json"


@dataclass(frozen=True, slots=True)
class OnnxModel:
    """A built ONNX graph and what the backend needs to know about it."""

    path: Path
    input_names: tuple[str, ...]
    max_position_embeddings: int | None


def default_onnx_cache_dir(settings: Settings | None = None) -> Path:
    """``<QAFLOW_HOME>/cache/onnx``, from the given settings or else the environment."""
    return (settings or load_settings()).home / "cache" / "onnx"


def ensure_onnx_model(ref: str, precision: OnnxPrecision, cache_dir: Path) -> OnnxModel:
    """The cached ONNX graph of the model at ``ref``, exported (and quantized) if missing.

    Third-party errors (a model that cannot load or trace) propagate; callers wrap them.
    """
    model_dir = resolve_model_dir(ref)
    entry = cache_dir / model_fingerprint(model_dir)
    entry.mkdir(parents=True, exist_ok=True)
    with _exclusive(entry / ".lock"):
        meta = _read_meta(entry)
        if meta is None or not (entry / FP32_FILE).is_file():
            # An int8 graph left by an unfinished build may come from other weights.
            (entry / INT8_FILE).unlink(missing_ok=True)
            report = export_fp32(model_dir, entry / FP32_FILE)
            meta = {
                "format": EXPORT_FORMAT,
                "source": str(model_dir),
                "input_names": list(report.input_names),
                "fused": report.fused,
                "max_abs_error_vs_torch": report.max_abs_error,
                "max_position_embeddings": report.max_position_embeddings,
            }
            _write_meta(entry, meta)
        path = entry / (INT8_FILE if precision == "int8" else FP32_FILE)
        if not path.is_file():
            quantize_int8(entry / FP32_FILE, path)
    positions = meta.get("max_position_embeddings")
    return OnnxModel(
        path=path,
        input_names=tuple(meta["input_names"]),
        max_position_embeddings=positions if isinstance(positions, int) else None,
    )


def model_fingerprint(model_dir: Path) -> str:
    """A hex digest that changes when the directory's config, tokenizer or weights change."""
    digest = hashlib.sha256(f"qaflow-onnx-{EXPORT_FORMAT}\0".encode())
    digest.update(directory_fingerprint(model_dir).encode())
    return digest.hexdigest()


def _read_meta(entry: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((entry / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == EXPORT_FORMAT else None


def _write_meta(entry: Path, meta: dict[str, Any]) -> None:
    partial = entry / f".partial-{META_FILE}"
    partial.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, entry / META_FILE)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One builder per cache entry across processes (API workers, pipeline workers, the CLI)."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
