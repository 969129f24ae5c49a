"""The HTTP calls the end-to-end tests make, through the public API only."""
from __future__ import annotations

import json
import time

import requests

from tests.e2e.processes import REPO, STACK_TOKENS, wait_for

FINAL_STATES = ("succeeded", "failed", "cancelled")
DATASET_FILE = REPO / "data" / "fashion-mnist-small.npz"
LENET5 = json.loads((REPO / "examples" / "lenet5.json").read_text())


class Client:
    """Signed in: without a `token`, the one of the stack started at `base_url` (Services.migrate made it).
    `session` is a requests.Session carrying it, for requests the helpers below do not make."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base = f"{base_url}/api/v1"
        self.session = requests.Session()
        # a new connection per request: one kept alive may be closed by gunicorn (idle 2 s) just as
        # a request is sent on it, which then fails with a reset
        self.session.headers["Connection"] = "close"
        token = token or STACK_TOKENS.get(base_url)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params) -> dict:
        response = self.session.get(self.base + path, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict, expect: int) -> dict:
        response = self.session.post(self.base + path, json=body, timeout=30)
        assert response.status_code == expect, response.text
        return response.json()

    def upload_dataset(self) -> int:
        with open(DATASET_FILE, "rb") as handle:
            response = self.session.post(self.base + "/datasets", files={"file": (DATASET_FILE.name, handle)}, timeout=300)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def create_network(self, definition: dict = LENET5) -> int:
        return self.post("/networks", definition, 201)["id"]

    def train(self, network_id: int, dataset_id: int, **params) -> int:
        params = {"epochs": 1, "batch_size": 64, "seed": 1, "validation_split": 0.1,
                  "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, **params}
        return self.post("/jobs", {"kind": "train", "network_id": network_id, "dataset_id": dataset_id,
                                   "params": params}, 202)["id"]

    def job(self, job_id: int) -> dict:
        return self.get(f"/jobs/{job_id}")

    def wait_final(self, job_id: int, timeout: float = 600) -> dict:
        return wait_for(lambda: (job := self.job(job_id))["status"] in FINAL_STATES and job, timeout,
                        f"job {job_id} to finish", interval=0.5)

    def wait_progress(self, job_id: int, min_step: int = 1, timeout: float = 300) -> dict:
        return wait_for(lambda: (job := self.job(job_id))["progress"]["step"] >= min_step and job, timeout,
                        f"job {job_id} to reach step {min_step}", interval=0.1)

    def metrics(self, job_id: int) -> list[dict]:
        rows, since = [], 0
        while True:
            page = self.get(f"/jobs/{job_id}/metrics", since=since)
            rows += page["metrics"]
            if not page["has_more"]:
                return rows
            since = page["last_seq"]


def seconds_since(start: float) -> float:
    return time.monotonic() - start
