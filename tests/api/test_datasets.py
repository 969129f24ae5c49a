import io

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError

from services.api.app import create_app
from shared.config import load_settings
from tests.api.conftest import npz_bytes, upload
from tests.support.accounts import signed_in_client

PROBLEM = "application/problem+json"


def stored_folders(settings) -> list:
    folder = settings.artifact_dir / "datasets"
    return sorted(folder.iterdir()) if folder.exists() else []


def leftover_uploads(settings) -> list:
    folder = settings.artifact_dir / "tmp"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_upload_npz_stores_arrays_and_row(client, settings):
    response = upload(client, npz_bytes(num_samples=60, num_classes=3), name="tiny")
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"] == f"/api/v1/datasets/{body['id']}"
    assert (body["name"], body["num_samples"], body["input_shape"], body["num_classes"]) == ("tiny", 60, [1, 8, 8], 3)
    assert len(body["sha256"]) == 64
    [folder] = stored_folders(settings)
    assert np.load(folder / "x_train.npy").shape == (60, 1, 8, 8)
    assert leftover_uploads(settings) == []


def test_name_defaults_to_the_file_name(client):
    response = upload(client, npz_bytes(), filename="digits.npz")
    assert response.json["name"] == "digits"


def test_get_lists_sample_images_per_class(client):
    dataset_id = upload(client, npz_bytes(), name="tiny").json["id"]
    body = client.get(f"/api/v1/datasets/{dataset_id}").json
    assert [entry["index"] for entry in body["classes"]] == [0, 1, 2]
    url = body["classes"][1]["sample_urls"][0]
    image = client.get(url)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_outside_the_pattern_is_404(client, dataset_id):
    response = client.get(f"/api/v1/datasets/{dataset_id}/samples/..%2Fx_train.npy")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert client.get(f"/api/v1/datasets/{dataset_id}/samples/9_9.png").status_code == 404


def test_list_and_missing(client):
    first = upload(client, npz_bytes(), name="a").json["id"]
    second = upload(client, npz_bytes(seed=1), name="b").json["id"]
    listed = client.get("/api/v1/datasets?limit=1").json
    assert [item["id"] for item in listed["items"]] == [second]
    rest = client.get(f"/api/v1/datasets?limit=1&cursor={listed['next_cursor']}").json
    assert [item["id"] for item in rest["items"]] == [first] and rest["next_cursor"] is None
    assert client.get("/api/v1/datasets/42").status_code == 404


def test_rejected_content_is_422_with_loc_and_leaves_nothing(client, settings):
    buffer = io.BytesIO()
    np.savez(buffer, x_train=np.zeros((4, 1, 8, 8), np.uint8), y_train=np.zeros(3, np.int64))
    buffer.seek(0)
    response = upload(client, buffer)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.json["errors"][0]["loc"][0] == "file"
    assert stored_folders(settings) == [] and leftover_uploads(settings) == []


def test_garbage_file_is_refused(client, settings):
    response = upload(client, io.BytesIO(b"not a dataset at all"), filename="x.npz")
    assert response.status_code in (400, 422)
    assert response.json["detail"]
    assert stored_folders(settings) == [] and leftover_uploads(settings) == []


def test_no_file_part_is_400(client):
    response = client.post("/api/v1/datasets", data={"name": "x"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json["errors"][0]["loc"] == ["file"]


def test_json_body_is_415(client):
    response = client.post("/api/v1/datasets", json={"file": "x"})
    assert response.status_code == 415
    assert response.mimetype == PROBLEM


def test_too_long_name_is_422(client):
    response = upload(client, npz_bytes(), name="n" * 201)
    assert response.status_code == 422
    assert response.json["errors"][0]["loc"] == ["name"]


def test_upload_over_the_limit_is_413(env, settings):
    env.setenv("MAX_UPLOAD_BYTES", "2000")
    app = create_app(load_settings())
    response = upload(signed_in_client(app), npz_bytes(num_samples=60))
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert "2000" in response.json["detail"]
    assert stored_folders(settings) == [] and leftover_uploads(settings) == []
    app.extensions["convforge"].engine.dispose()


def test_failed_insert_removes_the_stored_folder(client, settings, monkeypatch):
    from sqlalchemy.orm import Session

    def refuse(self):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(Session, "commit", refuse)
    response = upload(client, npz_bytes())
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert stored_folders(settings) == [] and leftover_uploads(settings) == []


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "cursor=-3", "cursor=abc"])
def test_bad_pagination_is_400(client, query):
    response = client.get(f"/api/v1/datasets?{query}")
    assert response.status_code == 400
    assert response.json["errors"][0]["loc"][0] == "query"
