"""The REST API face (FastAPI). Build an app with :func:`create_app`."""

from qaflow.api.app import create_app

__all__ = ["create_app"]
