"""Helpers every CLI command shares: settings, the runtime, readable errors."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from qaflow.config import Settings, load_settings
from qaflow.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    ModelLoadError,
    NotFoundError,
    QaflowError,
)
from qaflow.services.runtime import Runtime, open_runtime

# Printed text is literal: names, questions and answers come from users and files, where
# '[b]' or ':smile:' must not turn into markup or emoji. Styles are given as Text styles.
console = Console(markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False)

EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


def settings_from_env() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"QAFLOW_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"Invalid setting: {problems}.", code=EXIT_BAD_INPUT)
    except ValueError as exc:
        fail(f"Invalid QAFLOW_* setting: {exc}", code=EXIT_BAD_INPUT)


def fail(message: str, *, code: int = EXIT_ERROR) -> NoReturn:
    # The message is literal text: brackets in it (``qaflow[s3]``, a user's model name) are
    # not Rich markup.
    err_console.print(Text.assemble(("Error:", "bold red"), " ", message))
    raise typer.Exit(code)


@contextmanager
def readable_errors() -> Iterator[None]:
    """Turn qaflow errors into one sentence on stderr and an exit code, not a traceback."""
    try:
        yield
    except (
        InvalidInputError,
        NotFoundError,
        ConflictError,
        ModelLoadError,
        ConfigurationError,
    ) as exc:
        # What the API answers with a 4xx: the request or the configuration, not the system,
        # is at fault.
        fail(exc.message, code=EXIT_BAD_INPUT)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"Invalid input: {problems}", code=EXIT_BAD_INPUT)
    except QaflowError as exc:
        fail(exc.message)


@contextmanager
def cli_runtime() -> Iterator[Runtime]:
    settings = settings_from_env()
    with readable_errors(), open_runtime(settings) as runtime:
        yield runtime


@contextmanager
def file_written_whole(path: Path) -> Iterator[BinaryIO]:
    """A binary sink that becomes ``path`` only once everything is written.

    Written beside ``path`` and renamed over it on success, so a failure half-way leaves no
    truncated file that looks complete (and an existing file untouched). A file that cannot
    be written is a readable error, not a traceback.
    """
    try:
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        fail(f"Cannot write {path}: {exc.strerror or exc}", code=EXIT_BAD_INPUT)
    try:
        with os.fdopen(handle, "wb") as sink:
            yield sink
        os.chmod(partial, 0o666 & ~_umask())  # mkstemp's file is private; a plain one is not
        os.replace(partial, path)
    except OSError as exc:
        Path(partial).unlink(missing_ok=True)
        fail(f"Cannot write {path}: {exc.strerror or exc}", code=EXIT_BAD_INPUT)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
