"""The API with its artifacts in S3 (a real moto server): uploads are stored as objects and recorded
only once stored; samples and models are streamed from the store."""
from __future__ import annotations

import pytest

from shared.db.models import Dataset
from shared.storage import open_store
from tests.api.conftest import npz_bytes, upload
from tests.api.test_jobs import add_model
from tests.support.fixtures import s3, s3_settings  # noqa: F401

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(s3_settings):  # noqa: F811
    return s3_settings


def test_upload_is_stored_as_objects_and_samples_stream_from_the_store(client, sessions, settings):
    response = upload(client, npz_bytes(num_samples=60, num_classes=3), name="tiny")
    assert response.status_code == 201, response.json
    with sessions() as session:
        prefix = session.get(Dataset, response.json["id"]).path
    store = open_store(settings)
    keys = store.keys("datasets/")
    assert {f"{prefix}/x_train.npy", f"{prefix}/y_train.npy"} <= set(keys)
    assert all(key.startswith(f"{prefix}/") for key in keys)
    assert not (settings.artifact_dir / "datasets").exists(), "the dataset was written to the local folder"
    assert list((settings.artifact_dir / "tmp").iterdir()) == []

    sample_url = response.json["classes"][1]["sample_urls"][0]
    sample = client.get(sample_url)
    assert sample.status_code == 200 and sample.mimetype == "image/png"
    key = f"{prefix}/samples/{sample_url.rsplit('/', 1)[1]}"
    assert sample.data == b"".join(store.open(key))
    assert client.get(sample_url.replace("_0.png", "_99.png")).status_code == 404


def test_model_download_streams_from_the_store(client, sessions, settings, network_id, dataset_id, tmp_path):
    model_id = add_model(sessions, settings, network_id, dataset_id)  # writes models/m.npz locally...
    source = settings.artifact_dir / "models" / "m.npz"
    open_store(settings).put_file("models/m.npz", source)  # ...and this stores it
    source.unlink()
    download = client.get(f"/api/v1/models/{model_id}/download")
    assert download.status_code == 200 and download.data == b"model bytes"
    assert download.headers["Content-Length"] == "11" and download.headers["ETag"] == f'"{"a" * 64}"'
    assert "model-1-tiny.npz" in download.headers["Content-Disposition"]
    open_store(settings).delete(["models/m.npz"])
    missing = client.get(f"/api/v1/models/{model_id}/download")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM
