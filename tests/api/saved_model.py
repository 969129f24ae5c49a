"""A real LeNet-5 model file in the artifact store and its row, for the tests that run models in the API."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest

from shared.checksums import file_sha256
from shared.cnn import build_network, save_model
from shared.db.models import Model
from shared.storage import open_store
from tests.api.conftest import LENET5, upload

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
MEAN, STD = [0.286], [0.353]


def add_saved_model(sessions, settings, network_id: int, dataset_id: int, definition=LENET5, seed=0,
                    owner_id: int | None = None) -> tuple[int, object]:
    """Saved and stored as a train job does; the row without an owner is visible to admins only."""
    net = build_network(definition, seed=seed)
    key = f"models/lenet-{seed}.npz"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.npz"
        save_model(path, net, {"mean": MEAN, "std": STD, "class_names": CLASSES,
                               "input_shape": list(net.input_shape)})
        sha256, size_bytes = file_sha256(path), path.stat().st_size
        open_store(settings).put_file(key, path)
    with sessions.begin() as session:
        model = Model(owner_id=owner_id, network_id=network_id, dataset_id=dataset_id, path=key, sha256=sha256,
                      size_bytes=size_bytes, metrics={})
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
