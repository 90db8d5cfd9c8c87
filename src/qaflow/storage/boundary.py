"""Translation of fsspec, botocore, aiohttp and google errors into qaflow errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from qaflow.errors import NotFoundError, QaflowError, StorageError

# What a "no such file" from the backend means: on reads the object is missing; on writes the
# bucket or parent location is, which is a storage problem rather than a missing object.
MissingMeans = Literal["not_found", "storage_error"]


class ObjectNotFoundError(NotFoundError):
    """No object is stored under the requested key."""


def translate_error(
    exc: BaseException, *, action: str, key: str, url: str, missing: MissingMeans
) -> QaflowError:
    """The qaflow error that stands for a backend exception raised while doing ``action``."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        if missing == "not_found":
            return ObjectNotFoundError(f"no object {key!r} in {url}")
        return StorageError(
            f"cannot {action} {key!r}: its bucket or location does not exist in {url} ({detail})"
        )
    if isinstance(exc, PermissionError) or _looks_like_auth_failure(exc):
        return StorageError(
            f"access to {url} denied while trying to {action} {key!r}: check the storage "
            f"credentials and permissions ({detail})"
        )
    return StorageError(f"could not {action} {key!r} in {url}: {detail}")


def _looks_like_auth_failure(exc: BaseException) -> bool:
    # botocore (NoCredentialsError, PartialCredentialsError) and google.auth
    # (DefaultCredentialsError, RefreshError) are optional packages: match by name, not import.
    name = type(exc).__name__
    module = type(exc).__module__
    return "Credentials" in name or (module.startswith("google.auth") and name == "RefreshError")


@contextmanager
def storage_errors(
    *, action: str, key: str, url: str, missing: MissingMeans = "not_found"
) -> Iterator[None]:
    """Re-raise anything but qaflow's own errors as the matching qaflow error."""
    try:
        yield
    except QaflowError:
        raise
    except Exception as exc:
        raise translate_error(exc, action=action, key=key, url=url, missing=missing) from exc
