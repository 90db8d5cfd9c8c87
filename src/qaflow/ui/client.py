"""A small typed HTTP client of the qaflow API, used by the web app.

The web app talks to the API over HTTP only. Every failure becomes one readable qaflow error:
:class:`ApiUnavailableError` when the API cannot be reached, :class:`ApiRequestError` with the
API's own ``detail`` message when it answers with an error status.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from qaflow.errors import TerminalError, TransientError
from qaflow.services.pipeline_schemas import (
    CommitDetail,
    CommitPublic,
    DiffPublic,
    JobDetail,
    JobPublic,
    PipelinePublic,
    RepoPublic,
    UploadStatus,
)
from qaflow.services.schemas import AnswerPublic, ModelCreate, SourceName
from qaflow.services.upload_schemas import UploadWithStatus
from qaflow.ui.shapes import AnswersPage, ModelView, UploadReceipt

ModelT = TypeVar("ModelT")

# Loading a model or answering a long context can take a while; reaching the API should not.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
UPLOAD_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
NO_ROUTE_PREFIX = "This qaflow API has no route"
TOTAL_COUNT_HEADER = "X-Total-Count"


class ApiUnavailableError(TransientError):
    """The API could not be reached (down, wrong URL, timed out)."""


class ApiRequestError(TerminalError):
    """The API answered with an error status; the message is the API's own ``detail``."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code

    @property
    def not_found(self) -> bool:
        """The API said the named thing does not exist (not: this API lacks the route)."""
        return self.status_code == httpx.codes.NOT_FOUND and not self.message.startswith(
            NO_ROUTE_PREFIX
        )


class ApiClient:
    """Typed calls of the qaflow REST API. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=DEFAULT_TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- health and models ------------------------------------------------------------------

    def list_models(self) -> list[ModelView]:
        return self._parse(list[ModelView], self._send("GET", "/models"))

    def add_model(self, model: ModelCreate) -> list[ModelView]:
        """PUT /models: the API loads the model first and refuses one that cannot load."""
        response = self._send("PUT", "/models", json=model.model_dump())
        return self._parse(list[ModelView], response)

    def delete_model(self, name: str) -> list[ModelView]:
        response = self._send("DELETE", "/models", params={"model": name})
        return self._parse(list[ModelView], response)

    # -- answers ----------------------------------------------------------------------------

    def answer(self, question: str, context: str, *, model: str | None = None) -> AnswerPublic:
        params = {"model": model} if model else None
        response = self._send(
            "POST", "/answer", json={"question": question, "context": context}, params=params
        )
        return self._parse(AnswerPublic, response)

    def list_answers(
        self,
        *,
        start: datetime,
        end: datetime,
        model: str | None = None,
        source: SourceName | None = None,
        limit: int | None = None,
    ) -> list[AnswerPublic]:
        """Answers made between two aware datetimes (inclusive, to the second), oldest first."""
        params: dict[str, str | int] = {
            "start": int(start.timestamp()),
            "end": int(end.timestamp()),
        }
        if model:
            params["model"] = model
        if source:
            params["source"] = source
        if limit:
            params["limit"] = limit
        return self._parse(list[AnswerPublic], self._send("GET", "/answer", params=params))

    # -- uploads ----------------------------------------------------------------------------

    def upload(self, filename: str, content: bytes) -> UploadReceipt:
        """POST /upload one CSV; a bad file raises ApiRequestError with what is wrong."""
        response = self._send(
            "POST",
            "/upload",
            files={"file": (filename, content, "text/csv")},
            timeout=UPLOAD_TIMEOUT,
        )
        return self._parse(UploadReceipt, response)

    def list_uploads(self, *, limit: int = 50) -> list[UploadWithStatus]:
        """Uploads, newest first, each with its pipeline state and progress."""
        response = self._send("GET", "/uploads", params={"limit": limit})
        return self._parse(list[UploadWithStatus], response)

    def upload_status(self, upload_id: str) -> UploadStatus:
        return self._parse(UploadStatus, self._send("GET", f"/uploads/{upload_id}"))

    def upload_answers(self, upload_id: str, *, limit: int, offset: int = 0) -> AnswersPage:
        """A page of the upload's rows with their answers (row_index, question, context,
        answer, ...) and the number of rows in all."""
        response = self._send(
            "GET",
            f"/uploads/{upload_id}/answers",
            params={"format": "json", "limit": limit, "offset": offset},
            timeout=UPLOAD_TIMEOUT,
        )
        rows = self._parse(list[dict[str, Any]], response)
        total = response.headers.get(TOTAL_COUNT_HEADER, "")
        # An API without paging sends every row and no count.
        return AnswersPage(rows=rows, total=int(total) if total.isdigit() else offset + len(rows))

    def upload_answers_csv(self, upload_id: str) -> bytes:
        response = self._send(
            "GET",
            f"/uploads/{upload_id}/answers",
            params={"format": "csv"},
            timeout=UPLOAD_TIMEOUT,
        )
        return response.content

    # -- data and lineage -------------------------------------------------------------------

    def list_repos(self) -> list[RepoPublic]:
        return self._parse(list[RepoPublic], self._send("GET", "/repos"))

    def list_commits(self, repo: str, *, limit: int = 100) -> list[CommitPublic]:
        """A repo's commits, newest first."""
        response = self._send("GET", f"/repos/{repo}/commits", params={"limit": limit})
        return self._parse(list[CommitPublic], response)

    def get_commit(self, commit_id: str) -> CommitDetail:
        return self._parse(CommitDetail, self._send("GET", f"/commits/{commit_id}"))

    def diff(self, from_commit: str, to_commit: str, *, limit: int = 1000) -> DiffPublic:
        """Rows whose answer changed between two commits of a pipeline's output repo."""
        params: dict[str, str | int] = {"from": from_commit, "to": to_commit, "limit": limit}
        return self._parse(DiffPublic, self._send("GET", "/diff", params=params))

    def list_jobs(self, *, limit: int = 100) -> list[JobPublic]:
        """Jobs, newest first."""
        return self._parse(list[JobPublic], self._send("GET", "/jobs", params={"limit": limit}))

    def get_job(self, job_id: str) -> JobDetail:
        return self._parse(JobDetail, self._send("GET", f"/jobs/{job_id}"))

    def get_pipeline(self, name: str) -> PipelinePublic:
        return self._parse(PipelinePublic, self._send("GET", f"/pipelines/{name}"))

    # -- plumbing ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                json=json,
                files=files,
                timeout=timeout or DEFAULT_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise ApiUnavailableError(
                f"Cannot reach the qaflow API at {self.base_url}: {_describe_transport(exc)}"
            ) from exc
        if response.is_success:
            return response
        raise ApiRequestError(
            _describe_failure(method, path, response), status_code=response.status_code
        )

    def _parse(self, shape: type[ModelT], response: httpx.Response) -> ModelT:
        try:
            return TypeAdapter(shape).validate_json(response.content)
        except ValidationError as exc:
            raise ApiRequestError(
                f"The qaflow API at {self.base_url} sent an unexpected answer to "
                f"{response.request.method} {response.request.url.path}: {_first_problem(exc)}",
                status_code=response.status_code,
            ) from exc


def _describe_transport(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown. Is the API (qaflow serve) running there?"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time."
    return str(exc) or type(exc).__name__


def _describe_failure(method: str, path: str, response: httpx.Response) -> str:
    detail = _detail(response)
    if response.status_code == httpx.codes.NOT_FOUND and detail in (None, "Not Found"):
        # FastAPI's bare 404: the route itself is missing, e.g. an older API version.
        return f"{NO_ROUTE_PREFIX} {method} {path} (HTTP 404); is it an older version?"
    if detail is None:
        return f"The qaflow API answered {method} {path} with HTTP {response.status_code}."
    if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
        return f"The qaflow API failed (HTTP {response.status_code}): {detail}"
    if response.status_code == httpx.codes.UNAUTHORIZED:
        # The API's wording is for HTTP clients; here the token comes from the environment.
        return (
            "The qaflow API refused this app's token (HTTP 401): start the web app with "
            "QAFLOW_API_TOKEN set to the API's token."
        )
    return detail


def _detail(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] or None
    if isinstance(body, Mapping) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)
    return None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error.get("loc", ()))
    return f"{location}: {error.get('msg', 'invalid value')}" if location else str(error["msg"])


__all__ = [
    "ApiClient",
    "ApiRequestError",
    "ApiUnavailableError",
]
