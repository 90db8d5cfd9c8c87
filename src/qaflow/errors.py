"""qaflow's exception hierarchy.

Every error qaflow raises on purpose derives from :class:`QaflowError`. The two branches tell a
caller whether trying again can help: :class:`TransientError` (a server was down, a lock was
held) or :class:`TerminalError` (the input or the state is wrong and stays wrong). Third-party
exceptions are wrapped at the boundary where they happen (``raise ... from exc``); the API maps
these classes to HTTP statuses in one place (``qaflow.api.errors``).
"""

from __future__ import annotations


class QaflowError(Exception):
    """Root of every error qaflow raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TransientError(QaflowError):
    """A failure that may go away on retry (a service unreachable, a timeout, a lock)."""


class TerminalError(QaflowError):
    """A failure that a retry cannot fix (bad input, a missing object, a broken model)."""


class InvalidInputError(TerminalError):
    """The caller's input is malformed or violates a rule; the message says which and where."""


class NotFoundError(TerminalError):
    """A named thing (model, upload, commit, job, object) does not exist."""


class ConflictError(TerminalError):
    """The request contradicts the current state (e.g. deleting the default model)."""


class ModelLoadError(TerminalError):
    """A QA model or its tokenizer could not be loaded; the message names the model."""


class StorageError(TransientError):
    """Object storage could not be reached or refused an operation."""


class DatabaseError(TransientError):
    """The SQL database could not be reached or refused an operation."""


class ConfigurationError(TerminalError):
    """The settings are inconsistent or name something unsupported."""
