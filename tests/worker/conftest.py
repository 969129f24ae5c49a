"""A migrated SQLite database, an artifact store with a tiny dataset, and a small network: enough to run
the worker's task bodies in-process, quickly."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from shared.cnn import summarize
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from shared.db.models import Dataset, Job, Network
from shared.db.session import session_scope
from shared.storage import open_store
from worker.training.job_checkpoints import checkpoint_prefix

TINY_NETWORK = {"name": "tiny", "input_shape": [1, 8, 8], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"},
    {"type": "dropout", "rate": 0.25},
    {"type": "dense", "units": 3}]}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVFORGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'convforge.db'}")
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("JOB_LEASE_SECONDS", "30")
    loaded = load_settings()
    upgrade_to_head(loaded.database_url)
    return loaded


def _images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Class k lights up row band k: easy to learn, so a few steps move the loss."""
    images = rng.integers(0, 60, size=(len(labels), 1, 8, 8)).astype(np.uint8)
    for k in range(3):
        images[labels == k, :, 2 * k:2 * k + 3, :] += 180
    return images


@pytest.fixture
def dataset_id(settings) -> int:
    rng = np.random.default_rng(7)
    folder = settings.artifact_dir / "datasets" / "tiny"
    folder.mkdir(parents=True)
    y_train, y_test = rng.integers(0, 3, 150), rng.integers(0, 3, 30)
    for name, array in {"x_train": _images(rng, y_train), "y_train": y_train.astype(np.int64),
                        "x_test": _images(rng, y_test), "y_test": y_test.astype(np.int64)}.items():
        np.save(folder / f"{name}.npy", array)
    with session_scope(settings.database_url) as session:
        row = Dataset(name="tiny", source_format="npz", path="datasets/tiny", num_samples=150,
                      num_test_samples=30, input_shape=[1, 8, 8], num_classes=3, class_names=["a", "b", "c"],
                      class_counts=np.bincount(y_train, minlength=3).tolist(), channel_mean=[0.35],
                      channel_std=[0.3], sha256="0" * 64, size_bytes=0)
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def network_id(settings) -> int:
    summary = summarize(TINY_NETWORK)
    with session_scope(settings.database_url) as session:
        row = Network(name="tiny", definition=TINY_NETWORK, summary=summary.as_dict(),
                      total_params=summary.total_params)
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def make_job(settings, dataset_id, network_id):
    def make(**params) -> int:
        params = {"epochs": 2, "batch_size": 16, "seed": 3, "validation_split": 0.2,
                  "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, **params}
        with session_scope(settings.database_url) as session:
            job = Job(kind="train", network_id=network_id, dataset_id=dataset_id, params=params)
            session.add(job)
            session.flush()
            return job.id

    return make


@pytest.fixture
def no_stop() -> threading.Event:
    return threading.Event()


def stored_checkpoints(settings, job_id: int) -> list[str]:
    """The keys of the job's checkpoints in the artifact store."""
    return open_store(settings).keys(checkpoint_prefix(job_id))


def job_row(settings, job_id: int) -> Job:
    with session_scope(settings.database_url) as session:
        job = session.get(Job, job_id)
        session.expunge(job)
        return job
