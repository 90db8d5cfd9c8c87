"""Shared fixtures for the whole suite.

The service fixtures start real servers (PostgreSQL, SeaweedFS S3, a GCS emulator) once per
session, only when a test asks for them. Without the service a test skips; with
QAFLOW_REQUIRE_SERVICES=1 (CI) it fails instead.
"""

from __future__ import annotations

import os

# The suite never reaches a model hub: models are built by the tests themselves. huggingface_hub
# reads this once at import, so it must be set before transformers is imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.support.db_fixtures import (
    database_url,
    db_engine,
    postgres_server,
    session_factory,
)
from tests.support.gcs_emulator import gcs_server
from tests.support.reader_fixtures import tiny_model_dir, tiny_reader, tiny_spec
from tests.support.seaweed import s3_server

__all__ = [
    "database_url",
    "db_engine",
    "gcs_server",
    "postgres_server",
    "s3_server",
    "session_factory",
    "tiny_model_dir",
    "tiny_reader",
    "tiny_spec",
]
