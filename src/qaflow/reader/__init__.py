"""The QA engine: load an extractive QA model and answer questions about contexts.

Knows nothing of HTTP, SQL or pipelines. Tokenization and span decoding are numpy-only; the model
runs behind :class:`~qaflow.reader.backends.QABackend` (PyTorch today).
"""

from qaflow.reader.backends import QABackend
from qaflow.reader.cache import ReaderCache
from qaflow.reader.engine import Reader, load_reader
from qaflow.reader.types import Answer, Backend, ModelSpec, ReaderOptions

__all__ = [
    "Answer",
    "Backend",
    "ModelSpec",
    "QABackend",
    "Reader",
    "ReaderCache",
    "ReaderOptions",
    "load_reader",
]
