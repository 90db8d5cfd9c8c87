"""One lock for building Hugging Face objects.

transformers resolves its classes lazily on first attribute access, and that resolution is not
thread-safe: two threads loading their first models at once (the start-up preload beside a
``PUT /models``, two pipeline models) get "cannot import name 'AutoTokenizer'". Loading is rare
and short next to answering, so every ``from_pretrained`` of qaflow's runs under this lock;
answering never takes it.
"""

from __future__ import annotations

import threading

HF_LOAD_LOCK = threading.RLock()
