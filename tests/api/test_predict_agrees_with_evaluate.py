"""The predict route and an evaluate job give the same class for every test image of the bundled
Fashion-MNIST subset: the same confusion matrix, and each stored misclassified index predicted alike,
for a model scored on single images and for one scored with its mirror images (test_time_flip)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.api.inference.limits import MAX_PREDICT_INPUTS
from shared.checksums import file_sha256
from shared.cnn import build_network, fit, save_model
from shared.cnn.metrics import confusion_matrix
from shared.data.pipeline import prepare_batch
from shared.db.models import Dataset, Job, Model
from shared.storage import open_store
from tests.api.conftest import LENET5, upload
from tests.e2e.processes import REPO
from worker.training.evaluate_job import run_evaluate_job

DATASET_FILE = REPO / "data" / "fashion-mnist-small.npz"


@pytest.fixture(params=[False, True], ids=["single", "test_time_flip"])
def trained_model(request, client, sessions, settings, default_user, tmp_path) -> tuple[int, int, bool]:
    """(model id, dataset id, test_time_flip): LeNet-5 trained for one epoch on the subset, saved as a
    train job does."""
    with open(DATASET_FILE, "rb") as handle:
        dataset_id = upload(client, io.BytesIO(handle.read()), filename="fashion.npz", name="fashion").json["id"]
    network_id = client.post("/api/v1/networks", json=LENET5).json["id"]
    dataset = sessions().get(Dataset, dataset_id)
    with np.load(DATASET_FILE, allow_pickle=False) as archive:
        x, y = archive["x_train"].reshape(-1, 1, 28, 28)[:2000], archive["y_train"][:2000]
    net = build_network(LENET5, seed=0)
    fit(net, prepare_batch(x, dataset.channel_mean, dataset.channel_std), y,
        {"type": "sgd", "lr": 0.05, "momentum": 0.9}, epochs=1, batch_size=64)
    path = tmp_path / "trained.npz"
    save_model(path, net, {"mean": list(dataset.channel_mean), "std": list(dataset.channel_std),
                           "class_names": list(dataset.class_names), "input_shape": [1, 28, 28],
                           "test_time_flip": request.param})
    open_store(settings).put_file("models/trained.npz", path)
    with sessions.begin() as session:
        model = Model(owner_id=default_user.id, network_id=network_id, dataset_id=dataset_id,
                      path="models/trained.npz", sha256=file_sha256(path), size_bytes=path.stat().st_size,
                      metrics={})
        session.add(model)
        session.flush()
        return model.id, dataset_id, request.param


def png_part(pixels: np.ndarray, name: str):
    buffer = io.BytesIO()
    Image.fromarray(pixels[0]).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer, name


def test_predictions_equal_the_evaluate_jobs(client, settings, sessions, trained_model):
    model_id, dataset_id, mirrored = trained_model
    job = client.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": model_id, "dataset_id": dataset_id})
    assert job.status_code == 202, job.json
    assert run_evaluate_job(job.json["id"], "w1", settings) == "succeeded"
    result = sessions().get(Job, job.json["id"]).result
    assert result["test_time_flip"] is mirrored  # the evaluate job follows the model's own choice
    with np.load(DATASET_FILE, allow_pickle=False) as archive:
        x_test, y_test = archive["x_test"].reshape(-1, 1, 28, 28), archive["y_test"]
    predicted = []
    for start in range(0, len(x_test), MAX_PREDICT_INPUTS):
        batch = x_test[start:start + MAX_PREDICT_INPUTS]
        files = [png_part(image, f"{start + row}.png") for row, image in enumerate(batch)]
        response = client.post(f"/api/v1/models/{model_id}/predict?top_k=1", data={"file": files},
                               content_type="multipart/form-data")
        assert response.status_code == 200, response.json
        predicted += [item["top"][0]["class_index"] for item in response.json["predictions"]]
    predicted = np.array(predicted)
    assert 0.5 < result["accuracy"] < 1 and result["num_samples"] == len(x_test) == len(predicted)
    assert confusion_matrix(y_test, predicted, 10).tolist() == result["confusion_matrix"]
    assert result["misclassified"], "a one-epoch LeNet-5 makes mistakes"
    for cell in result["misclassified"]:
        assert cell["true"] != cell["predicted"] and 1 <= len(cell["indices"]) <= 8
        for index in cell["indices"]:
            assert (y_test[index], predicted[index]) == (cell["true"], cell["predicted"])
