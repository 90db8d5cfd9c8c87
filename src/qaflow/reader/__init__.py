"""The QA engine: load an extractive QA model and answer questions about contexts.

Knows nothing of HTTP, SQL or pipelines. Tokenization and span decoding are numpy-only; the model
runs behind :class:`~qaflow.reader.backends.QABackend`: PyTorch, or ONNX Runtime (fp32 or int8)
over an export cached on disk.
"""

from qaflow.reader.backends import QABackend
from qaflow.reader.cache import DEFAULT_MAX_READERS, ReaderCache
from qaflow.reader.engine import Reader, load_reader
from qaflow.reader.loading import build_onnx_model
from qaflow.reader.onnx_cache import OnnxModel, default_onnx_cache_dir
from qaflow.reader.types import Answer, Backend, ModelSpec, ReaderOptions

__all__ = [
    "DEFAULT_MAX_READERS",
    "Answer",
    "Backend",
    "ModelSpec",
    "OnnxModel",
    "QABackend",
    "Reader",
    "ReaderCache",
    "ReaderOptions",
    "build_onnx_model",
    "default_onnx_cache_dir",
    "load_reader",
]
