"""Object storage: a local directory, S3 or GCS behind one small interface.

Build a store with :func:`open_store` (from the settings) or :func:`open_store_url`; keys are
relative '/'-separated paths under the store's root, and every write is atomic.
"""

from qaflow.storage.base import ObjectInfo, ObjectStore
from qaflow.storage.boundary import ObjectNotFoundError
from qaflow.storage.factory import open_store, open_store_url
from qaflow.storage.keys import validate_key

__all__ = [
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectStore",
    "open_store",
    "open_store_url",
    "validate_key",
]
