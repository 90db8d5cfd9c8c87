"""Helpers every CLI command shares: settings, the runtime, readable errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from qaflow.config import Settings, load_settings
from qaflow.errors import InvalidInputError, NotFoundError, QaflowError
from qaflow.services.runtime import Runtime, open_runtime

console = Console()
err_console = Console(stderr=True)

EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


def settings_from_env() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        fail(f"Invalid QAFLOW_* setting: {exc}", code=EXIT_BAD_INPUT)


def fail(message: str, *, code: int = EXIT_ERROR) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def readable_errors() -> Iterator[None]:
    """Turn qaflow errors into one sentence on stderr and an exit code, not a traceback."""
    try:
        yield
    except (InvalidInputError, NotFoundError) as exc:
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
