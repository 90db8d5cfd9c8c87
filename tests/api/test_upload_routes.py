"""POST /upload, GET /uploads with each upload's state, and paged JSON answers over real HTTP."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.engine import Engine

from qaflow.config import Settings
from qaflow.services.pipeline_schemas import UploadStatus
from qaflow.storage import open_store
from qaflow.versioning import BLOB_PREFIX, blob_key
from qaflow.versioning.blobs import row_index_key
from tests.api.conftest import Api
from tests.support.live_server import live_api
from tests.support.seaweed import S3Server
from tests.versioning.samples import BAD_FILES, GOOD_CSV, GOOD_ROWS

NO_FILE_PART = "No file part: send the CSV as multipart field 'file'."
STATUS_FIELDS = list(UploadStatus.model_fields)
WAIT_S = 180


def post_csv(client: httpx.Client, data: bytes, name: str = "questions.csv") -> httpx.Response:
    return client.post("/upload", files={"file": (name, data, "text/csv")})


def test_upload_stores_the_file_and_answers_like_the_original_api(api: Api) -> None:
    response = post_csv(api.client, GOOD_CSV)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "File Uploaded Successfully"
    assert body["status code"] == 200
    assert body["sha256"] == hashlib.sha256(GOOD_CSV).hexdigest()
    assert (body["rows"], body["filename"]) == (GOOD_ROWS, "questions.csv")
    assert len(body["upload_id"]) == len(body["commit_id"]) == 32
    store = open_store(api.settings)
    assert store.get_bytes(blob_key(body["sha256"])) == GOOD_CSV

    listed = api.client.get("/uploads").json()
    assert [(u["id"], u["commit_id"], u["origin"]) for u in listed] == [
        (body["upload_id"], body["commit_id"], "api")
    ]
    assert listed[0]["columns"] == ["question", "context", "ref"]


def test_bad_files_are_refused_with_what_is_wrong_and_nothing_is_stored(api: Api) -> None:
    for case, (data, message) in BAD_FILES.items():
        response = post_csv(api.client, data, name=f"{case}.csv")
        assert response.status_code == 400, (case, response.text)
        assert message in response.json()["detail"], case

    assert api.client.get("/uploads").json() == []
    assert list(open_store(api.settings).list(BLOB_PREFIX)) == []


def test_a_request_without_the_file_field_is_a_400_that_says_how_to_send_it(api: Api) -> None:
    wrong_field = api.client.post("/upload", files={"upload": ("q.csv", GOOD_CSV, "text/csv")})
    as_json = api.client.post("/upload", json={"file": "question,context\nWho?,Ada.\n"})
    empty = api.client.post("/upload")

    for response in (wrong_field, as_json, empty):
        assert response.status_code == 400
        assert response.json() == {"detail": NO_FILE_PART}


def test_several_file_parts_are_refused_and_nothing_is_stored(api: Api) -> None:
    parts = [("file", (f"{n}.csv", GOOD_CSV, "text/csv")) for n in range(2)]

    response = api.client.post("/upload", files=parts)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("2 'file' parts: send one CSV per request")
    assert api.client.get("/uploads").json() == []


def test_a_client_path_in_the_file_name_is_dropped(api: Api) -> None:
    response = post_csv(api.client, GOOD_CSV, name="../../etc/questions.csv")

    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "questions.csv"


def test_get_uploads_pages_newest_first(api: Api) -> None:
    ids = [
        post_csv(api.client, GOOD_CSV + f"Q{n}?,C{n}.,r\n".encode()).json()["upload_id"]
        for n in range(3)
    ]

    assert [u["id"] for u in api.client.get("/uploads").json()] == ids[::-1]
    page = api.client.get("/uploads", params={"limit": 1, "offset": 1}).json()
    assert [u["id"] for u in page] == [ids[1]]
    refused = api.client.get("/uploads", params={"limit": 0})
    assert refused.status_code == 400
    assert "limit" in refused.json()["detail"]


@pytest.fixture
def guarded(api_settings: Settings) -> Iterator[httpx.Client]:
    settings = api_settings.model_copy(update={"api_token": SecretStr("s3cret")})
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def test_the_token_guards_upload_but_not_the_listing(guarded: httpx.Client) -> None:
    refused = post_csv(guarded, GOOD_CSV)
    assert refused.status_code == 401
    assert "token" in refused.json()["detail"]

    accepted = guarded.post(
        "/upload",
        files={"file": ("q.csv", GOOD_CSV, "text/csv")},
        headers={"Authorization": "Bearer s3cret"},
    )
    assert accepted.status_code == 200, accepted.text
    listed = guarded.get("/uploads")
    assert listed.status_code == 200
    assert [u["id"] for u in listed.json()] == [accepted.json()["upload_id"]]


def test_post_uploads_is_the_same_route_with_the_same_guard(guarded: httpx.Client) -> None:
    # The original system's write-up names the route /uploads as well as /upload.
    files = {"file": ("q.csv", GOOD_CSV, "text/csv")}
    assert guarded.post("/uploads", files=files).status_code == 401
    accepted = guarded.post("/uploads", files=files, headers={"Authorization": "Bearer s3cret"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "File Uploaded Successfully"
    listed = guarded.get("/uploads").json()
    assert [u["id"] for u in listed] == [accepted.json()["upload_id"]]


@pytest.mark.integration
def test_uploads_land_in_s3_when_storage_is_s3(api_settings: Settings, s3_server: S3Server) -> None:
    settings = api_settings.model_copy(update=s3_server.settings_fields(f"t-{uuid.uuid4().hex}"))
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        response = post_csv(client, GOOD_CSV)
        refused = post_csv(client, BAD_FILES["ragged"][0])

    assert response.status_code == 200, response.text
    assert refused.status_code == 400
    store = open_store(settings)
    sha256 = response.json()["sha256"]
    # the accepted file and its row index; nothing of the refused one
    stored = {blob_key(sha256), row_index_key(sha256)}
    assert {info.key for info in store.list()} == stored
    for key in stored:
        store.delete(key)


def numbered_csv(rows: int, tag: str = "") -> bytes:
    lines = ["id,question,context"] + [
        f"{n},Who wrote program {n}{tag}?,Ada Lovelace wrote program {n} in 1843."
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def worker_api(settings: Settings) -> Iterator[httpx.Client]:
    """The API with its embedded pipeline worker; small shards, so an upload has several."""
    with_worker = settings.model_copy(
        update={"embedded_worker": True, "worker_poll_s": 0.1, "shard_rows": 2}
    )
    with live_api(with_worker) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def answered(client: httpx.Client, upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/uploads/{upload_id}").json()
        if status["egressed"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"upload {upload_id} not answered in {WAIT_S} s: {status}")


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The SQL statements any engine of this process runs meanwhile."""
    statements: list[str] = []
    lock = threading.Lock()

    def record(*args: Any) -> None:
        with lock:
            statements.append(args[2])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_a_queued_upload_is_listed_with_its_state_as_its_detail_tells_it(api: Api) -> None:
    upload_id = post_csv(api.client, numbered_csv(3)).json()["upload_id"]

    [listed] = api.client.get("/uploads").json()
    detail = api.client.get(f"/uploads/{upload_id}").json()

    assert listed["id"] == upload_id
    assert (listed["state"], listed["progress"], listed["job_id"]) == ("queued", 0.0, None)
    assert (listed["datums_total"], listed["datums_done"], listed["egressed"]) == (1, 0, False)
    assert {name: listed[name] for name in STATUS_FIELDS} == detail
    assert (listed["origin"], listed["columns"]) == ("api", ["id", "question", "context"])


def test_done_and_queued_uploads_are_listed_with_their_state_in_a_fixed_number_of_queries(
    api_settings: Settings,
) -> None:
    with worker_api(api_settings) as client:
        done = [post_csv(client, numbered_csv(5, f"#{n}")).json()["upload_id"] for n in range(2)]
        for upload_id in done:
            answered(client, upload_id)
    with live_api(api_settings) as base_url, httpx.Client(base_url=base_url) as client:
        queued = [post_csv(client, numbered_csv(3, f"@{n}")).json()["upload_id"] for n in range(2)]

        listed = client.get("/uploads").json()
        with counted_statements() as whole_list:
            assert client.get("/uploads", params={"limit": 4}).json() == listed
        with counted_statements() as short_page:
            page = client.get("/uploads", params={"limit": 2, "offset": 1}).json()
        details = {upload_id: client.get(f"/uploads/{upload_id}").json() for upload_id in done}

    assert [u["id"] for u in listed] == queued[::-1] + done[::-1]
    assert [u["state"] for u in listed] == ["queued", "queued", "done", "done"]
    assert page == listed[1:3]
    for item in listed[2:]:
        assert (item["progress"], item["datums_total"], item["datums_done"]) == (1.0, 3, 3)
        assert item["egressed"]
        assert item["output_commit_id"] is not None
        assert {name: item[name] for name in STATUS_FIELDS} == details[item["id"]]
    # A page of four (two of them with jobs, three shards each) costs what a page of two does.
    assert len(whole_list) == len(short_page)


def test_json_answers_come_in_pages_with_the_total_and_csv_has_every_row(
    api_settings: Settings,
) -> None:
    with worker_api(api_settings) as client:
        upload_id = post_csv(client, numbered_csv(5)).json()["upload_id"]
        answered(client, upload_id)
        path = f"/uploads/{upload_id}/answers"

        every = client.get(path, params={"format": "json"})
        across_shards = client.get(path, params={"format": "json", "limit": 2, "offset": 1})
        last = client.get(path, params={"format": "json", "limit": 10, "offset": 4})
        beyond = client.get(path, params={"format": "json", "offset": 5})
        as_csv = client.get(path)

    for response in (every, across_shards, last, beyond):
        assert response.status_code == 200, response.text
        assert response.headers["x-total-count"] == "5"
    assert [row["row_index"] for row in every.json()] == [0, 1, 2, 3, 4]
    assert [row["row_index"] for row in across_shards.json()] == [1, 2]
    assert across_shards.json() == every.json()[1:3]
    assert [row["extra"] for row in last.json()] == [{"id": "4"}]
    assert beyond.json() == []
    assert as_csv.status_code == 200
    assert "x-total-count" not in as_csv.headers
    assert len(as_csv.text.strip().splitlines()) == 6


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"format": "json", "limit": 10_001},
            "limit must be between 1 and 10000 rows (got 10001): page through the answers "
            "with offset, or download format=csv for every row at once.",
        ),
        (
            {"format": "json", "limit": 0},
            "limit must be between 1 and 10000 rows (got 0)",
        ),
        ({"format": "json", "offset": -1}, "offset must be between 0 and 10" + "0" * 11),
        ({"format": "json", "offset": 2**63 - 1}, f"(got {2**63 - 1})."),
        (
            {"format": "csv", "limit": 10},
            "limit and offset page the JSON answers (format=json); "
            "the CSV download always has every row.",
        ),
    ],
)
def test_answer_pages_out_of_bounds_are_refused_with_400(
    api: Api, params: dict[str, Any], detail: str
) -> None:
    upload_id = post_csv(api.client, numbered_csv(2)).json()["upload_id"]

    response = api.client.get(f"/uploads/{upload_id}/answers", params=params)

    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]


def test_the_largest_page_is_allowed(api: Api) -> None:
    upload_id = post_csv(api.client, numbered_csv(2)).json()["upload_id"]

    response = api.client.get(
        f"/uploads/{upload_id}/answers", params={"format": "json", "limit": 10_000}
    )

    # Within bounds: the only complaint left is that the pipeline has not answered it yet.
    assert response.status_code == 404
    assert response.json()["detail"].endswith("has no answers yet (its job is queued).")
