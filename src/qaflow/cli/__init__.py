"""The command-line face (Typer): ``qaflow --help``."""

from qaflow.cli.main import app, main

__all__ = ["app", "main"]
