"""A real LeNet-5 model file and its row, for the tests that run models in the API."""
from __future__ import annotations

import io

import numpy as np
import pytest

from shared.cnn import build_network, save_model
from shared.db.models import Model
from tests.api.conftest import LENET5, upload

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
MEAN, STD = [0.286], [0.353]


def add_saved_model(sessions, settings, network_id: int, dataset_id: int, definition=LENET5, seed=0) -> tuple[int, object]:
    net = build_network(definition, seed=seed)
    path = settings.artifact_dir / "models" / f"lenet-{seed}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, net, {"mean": MEAN, "std": STD, "class_names": CLASSES,
                           "input_shape": list(net.input_shape)})
    with sessions.begin() as session:
        model = Model(network_id=network_id, dataset_id=dataset_id, path=f"models/{path.name}",
                      sha256=f"{seed:064d}", size_bytes=path.stat().st_size, metrics={})
        session.add(model)
        session.flush()
        return model.id, net


@pytest.fixture
def lenet(client, sessions, settings):
    network_id = client.post("/api/v1/networks", json=LENET5).json["id"]
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=rng.integers(0, 256, (20, 1, 28, 28), dtype=np.uint8), y_train=np.arange(20) % 10)
    buffer.seek(0)
    dataset_id = upload(client, buffer, name="pixels").json["id"]
    return add_saved_model(sessions, settings, network_id, dataset_id)
