"""POST /upload and GET /uploads over real HTTP."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from qaflow.config import Settings
from qaflow.storage import open_store
from qaflow.versioning import BLOB_PREFIX, blob_key
from tests.api.conftest import Api
from tests.support.live_server import live_api
from tests.support.seaweed import S3Server
from tests.versioning.samples import BAD_FILES, GOOD_CSV, GOOD_ROWS

NO_FILE_PART = "No file part: send the CSV as multipart field 'file'."


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


@pytest.mark.integration
def test_uploads_land_in_s3_when_storage_is_s3(api_settings: Settings, s3_server: S3Server) -> None:
    settings = api_settings.model_copy(
        update={
            "storage_url": f"{s3_server.url}/t-{uuid.uuid4().hex}",
            "s3_endpoint_url": s3_server.endpoint_url,
            "s3_access_key_id": SecretStr(s3_server.access_key_id),
            "s3_secret_access_key": SecretStr(s3_server.secret_access_key),
            "s3_region": s3_server.region,
        }
    )
    with live_api(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        response = post_csv(client, GOOD_CSV)
        refused = post_csv(client, BAD_FILES["ragged"][0])

    assert response.status_code == 200, response.text
    assert refused.status_code == 400
    store = open_store(settings)
    assert [info.key for info in store.list()] == [blob_key(response.json()["sha256"])]
    store.delete(blob_key(response.json()["sha256"]))
