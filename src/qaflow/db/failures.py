"""Turning SQLAlchemy's exceptions into qaflow's, with the database URL's password masked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, ExceptionContext

from qaflow.errors import DatabaseError, InvalidInputError, QaflowError


def masked_url(url: URL) -> str:
    """The URL as text, with any password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def describe(exc: BaseException) -> str:
    """The driver's own message (first line), without SQLAlchemy's SQL and background link."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def wrap_connect_failure(context: ExceptionContext) -> None:
    """``handle_error`` hook: a failure to open a connection becomes :class:`DatabaseError`.

    Pre-ping failures are left alone, so the pool can still replace a stale connection.
    """
    failure = context.sqlalchemy_exception
    if context.connection is not None or context.is_pre_ping or context.engine is None:
        return
    if isinstance(failure, sa_exc.OperationalError | sa_exc.InterfaceError):
        raise DatabaseError(
            f"cannot connect to the database {masked_url(context.engine.url)}: {describe(failure)}"
        )


@contextmanager
def database_errors(engine: Engine, action: str) -> Iterator[None]:
    """Re-raise SQLAlchemy errors met while doing ``action`` as qaflow errors."""
    try:
        yield
    except QaflowError:
        raise
    except sa_exc.IntegrityError as exc:
        raise InvalidInputError(
            f"{action}: a database constraint was violated: {describe(exc)}"
        ) from exc
    except sa_exc.DBAPIError as exc:
        raise DatabaseError(
            f"{action} failed on the database {masked_url(engine.url)}: {describe(exc)}"
        ) from exc
