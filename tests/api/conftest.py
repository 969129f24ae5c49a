"""The API over Flask's test client: a migrated temp SQLite database, a temp artifact store, and a
job queue that records what would be sent (the real broker path is tested end to end elsewhere).

`client` is signed in: every request carries the bearer token of `default_user`, an admin (so rows a
test writes straight into the database, without an owner, stay visible). `make_user` adds users and
`client_for(token)` gives a client for one of them; `anonymous_client` sends no credentials."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest

from services.api.app import create_app
from services.api.job_queue import task_id_for
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from shared.jobs import TASK_BY_KIND
from tests.support.accounts import Account, add_account, bearer_client
from tests.support.fixtures import env, redis_url  # noqa: F401

LENET5 = {"name": "lenet5", "input_shape": [1, 28, 28], "layers": [
    {"type": "conv2d", "filters": 6, "kernel_size": 5, "padding": 2}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 16, "kernel_size": 5}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 120}, {"type": "relu"},
    {"type": "dense", "units": 84}, {"type": "relu"},
    {"type": "dense", "units": 10}]}

TINY = {"name": "tiny", "input_shape": [1, 8, 8], "layers": [
    {"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "relu"},
    {"type": "flatten"}, {"type": "dense", "units": 3}]}


@dataclass
class RecordingQueue:
    """Stands in for services.api.job_queue.JobQueue: records sends and revokes."""

    sent: list[tuple[str, int]] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)
    task_ids: dict[int, list[str]] = field(default_factory=dict)  # job id -> ids sent, then revoked

    priorities: dict[int, int] = field(default_factory=dict)  # job id -> priority of its message

    def send(self, job, priority: int = 0) -> None:
        self.priorities[job.id] = priority
        self.sent.append((TASK_BY_KIND[job.kind], job.id))
        self.task_ids.setdefault(job.id, []).append(task_id_for(job))

    def queue_depth(self) -> int:
        return len(self.sent)

    def revoke(self, job) -> None:
        self.revoked.append(job.id)
        self.task_ids.setdefault(job.id, []).append(task_id_for(job))

    def ping_broker(self) -> str | None:
        return None

    def live_workers(self, timeout: float = 1.0) -> list[str]:
        return []

    def safe_broker_url(self) -> str:
        return "redis://recorded"


@pytest.fixture
def settings(env):
    loaded = load_settings()
    upgrade_to_head(loaded.database_url)
    return loaded


@pytest.fixture
def app(settings):
    application = create_app(settings)
    application.extensions["convforge"].job_queue = RecordingQueue()
    yield application
    application.extensions["convforge"].engine.dispose()


@pytest.fixture
def default_user(app) -> Account:
    return add_account(app, admin=True)


@pytest.fixture
def client(app, default_user):
    return bearer_client(app, default_user.token)


@pytest.fixture
def anonymous_client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """make_user(name, admin=False) -> Account(id, name, token)"""
    return lambda name, admin=False: add_account(app, name, admin)


@pytest.fixture
def client_for(app):
    """client_for(token): a test client whose requests carry that bearer token."""
    return lambda token: bearer_client(app, token)


@pytest.fixture
def queue(app) -> RecordingQueue:
    return app.extensions["convforge"].job_queue


@pytest.fixture
def sessions(app):
    return app.extensions["convforge"].sessions


def npz_bytes(num_samples: int = 60, num_classes: int = 3, shape=(1, 8, 8), seed: int = 0, **extra) -> io.BytesIO:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    x = rng.integers(0, 256, size=(num_samples, *shape), dtype=np.uint8)
    y = np.arange(num_samples, dtype=np.int64) % num_classes
    np.savez(buffer, x_train=x, y_train=y, **extra)
    buffer.seek(0)
    return buffer


def upload(client, buffer: io.BytesIO, filename: str = "tiny.npz", **form):
    return client.post("/api/v1/datasets", data={"file": (buffer, filename), **form},
                       content_type="multipart/form-data")


@pytest.fixture
def network_id(client) -> int:
    response = client.post("/api/v1/networks", json=TINY)
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def dataset_id(client) -> int:
    response = upload(client, npz_bytes(), name="tiny")
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def train_job(client, network_id, dataset_id) -> dict:
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id, "params": {"epochs": 2}})
    assert response.status_code == 202, response.json
    return response.json
