"""The API while its S3 store is down (a moto server of this test's own, stopped): an upload is answered
with a 503 problem document and nothing is recorded."""
from __future__ import annotations

import pytest

from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from tests.api.conftest import npz_bytes, upload
from tests.support.s3 import S3Unavailable, s3_server, use_s3
from tests.support.services import require_or_skip

PROBLEM = "application/problem+json"


@pytest.fixture
def store_server():
    try:
        with s3_server() as server:
            yield server
    except S3Unavailable as exc:
        require_or_skip(str(exc))


@pytest.fixture
def settings(env, store_server):
    use_s3(env, store_server, STORE_RETRY_SECONDS="1")
    loaded = load_settings()
    upgrade_to_head(loaded.database_url)
    return loaded


def test_upload_while_the_store_is_down_is_503_and_nothing_is_recorded(client, settings, store_server):
    assert upload(client, npz_bytes(), name="kept").status_code == 201
    store_server.stop()
    response = upload(client, npz_bytes(seed=1), name="lost")
    assert response.status_code == 503 and response.mimetype == PROBLEM
    assert response.json["type"].endswith("store-unavailable") and response.headers["Retry-After"] == "5"
    assert "nothing was recorded" in response.json["detail"]
    assert [item["name"] for item in client.get("/api/v1/datasets").json["items"]] == ["kept"]
    assert list((settings.artifact_dir / "tmp").iterdir()) == []
    # Reading from the store is a 503 too, not a 404 or a 500.
    dataset = client.get("/api/v1/datasets").json["items"][0]
    assert client.get(dataset["url"]).status_code == 503
