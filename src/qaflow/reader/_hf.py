"""One lock for building Hugging Face objects, and quiet loading under it.

transformers resolves its classes lazily on first attribute access, and that resolution is not
thread-safe: two threads loading their first models at once (the start-up preload beside a
``PUT /models``, two pipeline models) get "cannot import name 'AutoTokenizer'". Loading is rare
and short next to answering, so every ``from_pretrained`` of qaflow's runs under this lock;
answering never takes it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

HF_LOAD_LOCK = threading.RLock()


@contextmanager
def hf_loading() -> Iterator[None]:
    """Hold :data:`HF_LOAD_LOCK`, with transformers' per-tensor "Loading weights" bar off.

    That bar is noise in a CLI's output and a server's log; the switch is global to
    transformers, so it is flipped only while the lock keeps other loads out.
    """
    with HF_LOAD_LOCK:
        from transformers.utils import logging as hf_logging

        was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            yield
        finally:
            if was_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
