"""Predict latency over HTTP: one PNG image, cold (the model's first request in a fresh API process,
which loads the .npz) and warm (the model already in the cache), for LeNet-5 and the largest example
network (VGG16, 224x224 RGB, 138M parameters).

    python benchmarks/predict_latency.py [--warm-requests 10] [--networks lenet5 vgg16]

Runs the API in-process on a temp SQLite database and artifact store, served by werkzeug on a
local port, and calls it with requests as a user of its own (a bearer token) who owns the model. Each network gets a fresh app (an empty model cache).
Weights are random (latency does not depend on them). Prints a table of milliseconds.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image
from werkzeug.serving import WSGIRequestHandler, make_server

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.api.app import create_app  # noqa: E402
from shared.accounts import create_user, issue_token  # noqa: E402
from shared.checksums import file_sha256  # noqa: E402
from shared.cnn import build_network, save_model  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.db.migrate import upgrade_to_head  # noqa: E402
from shared.db.models import Dataset, Model, Network  # noqa: E402
from shared.storage.keys import new_model_key  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def add_model(app, definition: dict, folder: Path) -> tuple[int, str]:
    """A model of `definition` in the app's store, owned by a new user; returns its id and the user's token."""
    net = build_network(definition, seed=0)
    channels = definition["input_shape"][0]
    path = folder / f"{definition['name']}.npz"
    classes = net.summary.plans[-1].output_shape[0]
    save_model(path, net, {"mean": [0.5] * channels, "std": [0.25] * channels,
                           "class_names": [f"class {i}" for i in range(classes)]})
    key = new_model_key()
    app.extensions["convforge"].store.put_file(key, path)
    sessions = app.extensions["convforge"].sessions
    with sessions.begin() as session:
        user = create_user(session, "bench", "user")
        _, token = issue_token(session, user, "bench")
        network = Network(owner_id=user.id, name=definition["name"], definition=definition, summary={},
                          total_params=0)
        dataset = Dataset(owner_id=user.id, name="bench", source_format="npz", path="datasets/none",
                          num_samples=0, num_test_samples=0, input_shape=definition["input_shape"],
                          num_classes=classes, class_names=[], class_counts=[], channel_mean=[], channel_std=[],
                          sha256="0" * 64, size_bytes=0)
        session.add_all([network, dataset])
        session.flush()
        model = Model(owner_id=user.id, network_id=network.id, dataset_id=dataset.id, path=key,
                      sha256=file_sha256(path), size_bytes=path.stat().st_size, metrics={})
        session.add(model)
        session.flush()
        return model.id, token


def image_png(shape) -> bytes:
    channels, height, width = shape
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, channels), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def measure(name: str, warm_requests: int) -> tuple[float, float, float]:
    definition = json.loads((REPO / "examples" / f"{name}.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ.update({"DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", "ARTIFACT_DIR": str(folder / "artifacts"),
                           "CONVFORGE_VAR_DIR": str(folder / "var")})
        settings = load_settings()
        upgrade_to_head(settings.database_url)
        app = create_app(settings)
        model_id, token = add_model(app, definition, folder)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/api/v1/models/{model_id}/predict"
        png = image_png(definition["input_shape"])
        timings = []
        try:
            for _ in range(1 + warm_requests):
                start = time.perf_counter()
                response = requests.post(url, files={"file": ("x.png", png)}, timeout=600,
                                         headers={"Authorization": f"Bearer {token}"})
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
        finally:
            server.shutdown()
        return timings[0], statistics.median(timings[1:]), min(timings[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-requests", type=int, default=10)
    parser.add_argument("--networks", nargs="+", default=["lenet5", "vgg16"])
    args = parser.parse_args()
    print(f"{'network':<12}{'cold ms':>12}{'warm median ms':>18}{'warm best ms':>16}")
    for name in args.networks:
        cold, warm, best = measure(name, args.warm_requests)
        print(f"{name:<12}{cold:>12.1f}{warm:>18.1f}{best:>16.1f}")


if __name__ == "__main__":
    main()
