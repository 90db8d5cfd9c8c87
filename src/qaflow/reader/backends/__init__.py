"""Inference backends behind one interface; :func:`create_backend` picks one by name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from qaflow.errors import ConfigurationError
from qaflow.reader._hf import hf_loading
from qaflow.reader.backends.base import IdArray, LogitArray, QABackend
from qaflow.reader.types import Backend

__all__ = ["IdArray", "LogitArray", "QABackend", "check_backend", "create_backend"]

_ONNX_KINDS: frozenset[str] = frozenset({"onnx", "onnx-int8"})


def check_backend(kind: str) -> None:
    """Raise :class:`ConfigurationError` unless ``kind`` names a backend this build can run."""
    if kind == "torch":
        return
    if kind in _ONNX_KINDS:
        if not _installed("onnxruntime"):
            raise ConfigurationError(
                f"Backend '{kind}' needs ONNX Runtime: pip install 'qaflow[onnx]'"
            )
        return
    raise ConfigurationError(f"Unknown backend '{kind}'; expected one of torch, onnx, onnx-int8")


def create_backend(
    kind: Backend,
    ref: str,
    *,
    threads: int | None = None,
    onnx_cache_dir: Path | None = None,
    device: str = "cpu",
) -> QABackend:
    """Load the model at ``ref`` with the named backend; loading errors propagate unwrapped.

    ``device`` places a torch model (``"cuda"``, say); the ONNX backends run on the CPU only.

    ONNX backends export the model into ``onnx_cache_dir`` on first use (default
    ``<QAFLOW_HOME>/cache/onnx``) and reuse the export afterwards.
    """
    check_backend(kind)
    if kind in _ONNX_KINDS and device != "cpu":
        raise ConfigurationError(f"Backend '{kind}' runs on the CPU only, not on {device!r}")
    # Imported here so that tokenization and decoding stay usable without torch or onnxruntime.
    if kind in _ONNX_KINDS:
        from qaflow.reader.backends.onnx_backend import OnnxBackend
        from qaflow.reader.onnx_cache import default_onnx_cache_dir

        return OnnxBackend.from_pretrained(
            ref,
            precision="int8" if kind == "onnx-int8" else "fp32",
            cache_dir=onnx_cache_dir or default_onnx_cache_dir(),
            threads=threads,
        )
    with hf_loading():
        from qaflow.reader.backends.torch_backend import TorchBackend

        return TorchBackend.from_pretrained(ref, threads=threads, device=device)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (set to None)
        return False
