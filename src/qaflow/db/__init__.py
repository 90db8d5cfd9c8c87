"""The SQL layer: models, engines, migrations and the answer upsert."""

from qaflow.db.answers import upsert_answers
from qaflow.db.dialect import dialect_name, insert_ignoring_duplicates
from qaflow.db.engine import check_connection, create_db_engine, create_session_factory
from qaflow.db.migrate import alembic_config, current_revision, head_revision, upgrade_database
from qaflow.db.models import AnswerRecord, AnswerSource, Base, ModelBackend, ModelEntry
from qaflow.db.pipeline import (
    Datum,
    DatumState,
    Job,
    JobScope,
    JobState,
    Pipeline,
    PipelineVersion,
    ShardDigest,
)
from qaflow.db.types import UTCDateTime, utc_now
from qaflow.db.versioning import (
    Blob,
    Commit,
    CommitFile,
    CommitOrigin,
    FileOp,
    Repo,
    RepoFile,
    RepoKind,
    Upload,
    UploadOrigin,
)

__all__ = [
    "AnswerRecord",
    "AnswerSource",
    "Base",
    "Blob",
    "Commit",
    "CommitFile",
    "CommitOrigin",
    "Datum",
    "DatumState",
    "FileOp",
    "Job",
    "JobScope",
    "JobState",
    "ModelBackend",
    "ModelEntry",
    "Pipeline",
    "PipelineVersion",
    "Repo",
    "RepoFile",
    "RepoKind",
    "ShardDigest",
    "UTCDateTime",
    "Upload",
    "UploadOrigin",
    "alembic_config",
    "check_connection",
    "create_db_engine",
    "create_session_factory",
    "current_revision",
    "dialect_name",
    "head_revision",
    "insert_ignoring_duplicates",
    "upgrade_database",
    "upsert_answers",
    "utc_now",
]
