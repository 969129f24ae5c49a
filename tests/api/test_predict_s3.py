"""Predict, export, import and dataset images with the artifacts in S3 (a real moto server): models and
samples are read from the store, exports and imported models are written to it, never to a local folder."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shared.db.models import Model
from shared.storage import open_store
from tests.api.conftest import upload
from tests.api.saved_model import lenet  # noqa: F401
from tests.support.fixtures import s3, s3_settings  # noqa: F401


@pytest.fixture
def settings(s3_settings):  # noqa: F811
    return s3_settings


def test_a_model_in_s3_predicts_exports_and_imports(client, lenet, sessions, settings):
    model_id, net = lenet
    store = open_store(settings)
    samples = np.random.default_rng(0).integers(0, 256, (2, 1, 28, 28), dtype=np.uint8).tolist()
    predicted = client.post(f"/api/v1/models/{model_id}/predict", json={"inputs": samples})
    assert predicted.status_code == 200, predicted.json

    exported = client.get(f"/api/v1/models/{model_id}/export")
    assert exported.status_code == 200, exported.get_data()[:300]
    sha256 = sessions().get(Model, model_id).sha256
    key = f"exports/model-{model_id}-{sha256}.onnx"
    assert store.keys("exports/") == [key] and b"".join(store.open(key)) == exported.data

    dataset_id = client.get(f"/api/v1/models/{model_id}").json["dataset"]["id"]
    imported = client.post("/api/v1/models/import", data={"file": (io.BytesIO(exported.data), "m.onnx"),
                                                          "dataset_id": str(dataset_id)},
                           content_type="multipart/form-data")
    assert imported.status_code == 201, imported.json
    path = sessions().get(Model, imported.json["id"]).path
    assert path.startswith("models/") and store.exists(path)
    again = client.post(f"/api/v1/models/{imported.json['id']}/predict", json={"inputs": samples})
    assert again.json["predictions"] == predicted.json["predictions"]
    assert not (settings.artifact_dir / "models").exists() and not (settings.artifact_dir / "exports").exists()



def test_a_model_whose_object_is_gone_is_not_found(client, lenet, sessions, settings):
    model_id, _net = lenet
    open_store(settings).delete([sessions().get(Model, model_id).path])
    gone = client.post(f"/api/v1/models/{model_id}/predict", json={"inputs": [[[0] * 28] * 28]})
    assert gone.status_code == 404 and gone.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/models/{model_id}/export").status_code == 404


def test_a_dataset_image_is_read_from_s3(client):
    x_test = np.random.default_rng(1).integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=x_test, y_train=np.arange(4), x_test=x_test, y_test=np.array([3, 2, 1, 0]))
    buffer.seek(0)
    dataset_id = upload(client, buffer, name="split").json["id"]
    response = client.get(f"/api/v1/datasets/{dataset_id}/images/test/2")
    assert response.status_code == 200 and response.headers["X-Class-Index"] == "1"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(response.data))), x_test[2, 0])
    assert client.get(f"/api/v1/datasets/{dataset_id}/images/test/4").status_code == 404
