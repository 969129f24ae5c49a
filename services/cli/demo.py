"""`convforge up --demo`: over the REST API, upload the bundled Fashion-MNIST subset and LeNet-5 (once;
later runs reuse them by name), print the per-layer summary, train a few epochs with a progress bar
and print the test accuracy."""
from __future__ import annotations

import json
from pathlib import Path

from services.cli.follow import follow_job, outcome_lines
from services.cli.rest import ApiClient

REPO = Path(__file__).resolve().parents[2]
DATASET_FILE = REPO / "data" / "fashion-mnist-small.npz"
DATASET_NAME = "fashion-mnist-small"
NETWORK_FILE = REPO / "examples" / "lenet5.json"


def run_demo(client: ApiClient, epochs: int) -> dict:
    dataset = _find(client, "/datasets", DATASET_NAME)
    if dataset is None:
        print(f"uploading {DATASET_FILE.relative_to(REPO)} ...", flush=True)
        dataset = client.upload("/datasets", DATASET_FILE, name=DATASET_NAME)
    print(f"dataset {dataset['id']} {DATASET_NAME}: {dataset['num_samples']} training images "
          f"{dataset['input_shape']}, {dataset['num_classes']} classes")
    definition = json.loads(NETWORK_FILE.read_text())
    network = _find(client, "/networks", definition["name"]) or client.post("/networks", definition)
    print(f"\nnetwork {network['id']} {definition['name']}:")
    print(client.get_text(f"/networks/{network['id']}/summary", format="text"), flush=True)
    job = client.post("/jobs", {"kind": "train", "network_id": network["id"], "dataset_id": dataset["id"],
                                "params": {"epochs": epochs}})  # the rest: the job defaults
    print(f"training job {job['id']}: {epochs} epochs", flush=True)
    job = follow_job(client, job["id"])
    print("\n".join(outcome_lines(job)), flush=True)
    return job


def _find(client: ApiClient, path: str, name: str) -> dict | None:
    for item in client.get(path, limit=100)["items"]:
        if item["name"] == name:
            return client.get(f"{path}/{item['id']}")
    return None


