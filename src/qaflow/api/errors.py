"""The one place where qaflow errors become HTTP statuses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qaflow.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    ModelLoadError,
    NotFoundError,
    QaflowError,
    TransientError,
)

logger = logging.getLogger(__name__)

_FASTAPI_BODY_ERROR = "There was an error parsing the body"
UNREADABLE_BODY = (
    "The request body could not be read: send JSON in UTF-8 (or, to /upload, a multipart form)."
)

# Pydantic's wording for a validator's own ValueError; the validator's sentence says enough.
_VALUE_ERROR_PREFIX = "Value error, "

_STATUS_BY_ERROR: tuple[tuple[type[QaflowError], int], ...] = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_400_BAD_REQUEST),
    (InvalidInputError, status.HTTP_400_BAD_REQUEST),
    (ModelLoadError, status.HTTP_400_BAD_REQUEST),
    (ConfigurationError, status.HTTP_400_BAD_REQUEST),
    (TransientError, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def status_for(error: QaflowError) -> int:
    for error_type, code in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return code
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def describe_validation_error(exc: RequestValidationError) -> str:
    """One readable sentence per problem, e.g. "body.question: field required"."""
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid value")).removeprefix(_VALUE_ERROR_PREFIX)
        if error.get("type") == "missing" and location:
            problems.append(f"'{location}' is required")
        elif error.get("type") == "extra_forbidden" and location:
            problems.append(f"'{location}' is not a field of this request")
        elif location:
            problems.append(f"'{location}': {message}")
        else:
            problems.append(message)
    return "Invalid request: " + "; ".join(problems) + "."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QaflowError)
    async def _qaflow_error(request: Request, exc: QaflowError) -> JSONResponse:
        code = status_for(exc)
        if code >= 500:
            logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=code, content={"detail": exc.message})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_400_BAD_REQUEST,
            content={"detail": describe_validation_error(exc)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _FASTAPI_BODY_ERROR:
            # FastAPI's words for a body it could not decode (invalid UTF-8, say) name no cause.
            return JSONResponse(status_code=exc.status_code, content={"detail": UNREADABLE_BODY})
        return await http_exception_handler(request, exc)
