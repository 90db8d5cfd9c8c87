"""Inference backends behind one interface; :func:`create_backend` picks one by name."""

from __future__ import annotations

from qaflow.errors import ConfigurationError
from qaflow.reader.backends.base import IdArray, LogitArray, QABackend
from qaflow.reader.types import Backend

__all__ = ["IdArray", "LogitArray", "QABackend", "check_backend", "create_backend"]

_AVAILABLE: frozenset[str] = frozenset({"torch"})
_PLANNED: frozenset[str] = frozenset({"onnx", "onnx-int8"})


def check_backend(kind: str) -> None:
    """Raise :class:`ConfigurationError` unless ``kind`` names a backend this build can run."""
    if kind in _AVAILABLE:
        return
    if kind in _PLANNED:
        raise ConfigurationError(f"Backend '{kind}' is not available yet; use 'torch'")
    raise ConfigurationError(f"Unknown backend '{kind}'; expected one of torch, onnx, onnx-int8")


def create_backend(kind: Backend, ref: str, *, threads: int | None = None) -> QABackend:
    """Load the model at ``ref`` with the named backend; loading errors propagate unwrapped."""
    check_backend(kind)
    # Imported here so that tokenization and decoding stay usable without torch.
    from qaflow.reader.backends.torch_backend import TorchBackend

    return TorchBackend.from_pretrained(ref, threads=threads)
