"""Settings: one typed object read from ``QAFLOW_*`` environment variables.

Nothing is read at import time: call :func:`load_settings` (or construct :class:`Settings`) and pass
the object on. Faces (API, CLI, UI) build it once at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ExecutorKind = Literal["local", "ray"]
# The runtimes a model can run on; the one spelling (qaflow.reader.Backend is this alias).
ModelRuntime = Literal["torch", "onnx", "onnx-int8"]

DEFAULT_MODEL_NAME = "minilm-squad"
# Shipped inside the package (qaflow/bundled/): answers offline right after `pip install`.
DEFAULT_MODEL_REF = "bundled:minilm-l6-squad"


class Settings(BaseSettings):
    """The effective configuration of one qaflow process."""

    model_config = SettingsConfigDict(env_prefix="QAFLOW_", extra="ignore")

    home: Path = Field(
        default=Path("~/.qaflow"),
        description="Data home: the default SQLite file, local bucket and model caches live here.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: sqlite:///<home>/qaflow.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Object storage root: a local directory (default <home>/storage), "
        "s3://bucket/prefix or gs://bucket/prefix.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint for S3-compatible servers (MinIO, SeaweedFS)."
    )
    s3_access_key_id: SecretStr | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key.")
    s3_region: str | None = Field(default=None, description="S3 region.")
    gcs_endpoint_url: str | None = Field(
        default=None, description="GCS endpoint, for an emulator such as fake-gcs-server."
    )
    gcs_project: str | None = Field(default=None, description="GCS project id.")
    gcs_token: SecretStr | None = Field(
        default=None,
        description="GCS credentials: a service-account JSON path, 'anon', 'google_default'.",
    )
    default_model: str = Field(
        default=DEFAULT_MODEL_NAME,
        description="Registry name of the model used when none is given.",
    )
    default_model_ref: str = Field(
        default=DEFAULT_MODEL_REF,
        description="Hub id, local directory or bundled:<name> of the default registry entry.",
    )
    default_model_backend: ModelRuntime = Field(
        default="onnx-int8",
        description="Runtime of the default registry entry when it is first created: torch, onnx "
        "or onnx-int8 (int8 answers the bundled model's questions ~2x faster than torch with the "
        "same F1 within half a point).",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, state-changing API routes require 'Authorization: Bearer <token>'.",
    )
    api_url: str = Field(
        default="http://127.0.0.1:8080", description="Where the web app and clients find the API."
    )
    max_batch_size: int = Field(
        default=32, ge=1, description="Most questions answered in one forward pass."
    )
    batch_wait_ms: float = Field(
        default=5.0,
        ge=0,
        description="How long the online micro-batcher waits to gather concurrent requests.",
    )
    max_loaded_models: int = Field(
        default=4,
        ge=1,
        description="Readers (a model with its window settings) each process keeps in memory, "
        "all models and settings counted together; the least recently used goes first.",
    )
    torch_threads: int | None = Field(
        default=None, ge=1, description="Intra-op threads for inference. Default: all cores."
    )
    executor: ExecutorKind = Field(default="local", description="Pipeline executor: local or ray.")
    workers: int = Field(default=1, ge=1, description="Worker processes of the local executor.")
    ray_address: str | None = Field(
        default=None, description="Ray cluster address. Default: RAY_ADDRESS, else a local Ray."
    )
    scan_interval_s: float = Field(
        default=300.0, gt=0, description="How often the bucket's incoming/ prefix is scanned."
    )
    shard_rows: int = Field(
        default=5000,
        ge=1,
        description="Rows per datum (unit of work and of retry) when a pipeline is first created.",
    )
    datum_tries: int = Field(
        default=3, ge=1, description="Attempts per datum, when a pipeline is first created."
    )
    retry_backoff_s: float = Field(
        default=1.0,
        ge=0,
        description="Wait before a failed datum's next try; doubled for each try after that.",
    )
    job_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A running job whose worker sent no heartbeat for this long is taken over.",
    )
    worker_poll_s: float = Field(
        default=2.0, gt=0, description="How often an idle pipeline worker looks for new work."
    )
    embedded_worker: bool = Field(
        default=False,
        description="Run a pipeline worker thread inside the API process "
        "(`qaflow serve` turns it on unless --no-worker).",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'qaflow.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str(self.home / "storage")

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain values, secrets and URL passwords masked."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                values[name] = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                values[name] = str(value)
            else:
                values[name] = value
        values["database_url"] = _mask_url_password(self.resolved_database_url)
        values["storage_url"] = self.resolved_storage_url
        return values


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, has_password, _ = creds.partition(":")
    return f"{scheme}://{user}:********@{host}" if has_password else url


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)
