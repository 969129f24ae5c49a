"""Train jobs with the artifact store in S3 (a real moto server) and nothing shared on disk: a job
stopped on one machine resumes on another from the checkpoint in the store, and a store that goes down
mid-job fails the job with its reason after the retries."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from sqlalchemy import select

from shared.cnn import load_model
from shared.data.store import arrays_sha256
from shared.db.models import Dataset, Model
from shared.db.session import session_scope
from shared.storage import open_store
from tests.support.fixtures import s3  # noqa: F401
from tests.support.s3 import s3_server, use_s3
from tests.worker.conftest import _images, job_row, stored_checkpoints
from tests.worker.test_train_job import StopAfter
from worker.training.train_job import run_train_job


def publish_tiny_dataset(settings, tmp_path) -> str:
    """The worker tests' tiny dataset, stored as objects; returns its store path, records its checksum."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "tiny-staged"
    folder.mkdir()
    y_train, y_test = rng.integers(0, 3, 150), rng.integers(0, 3, 30)
    for name, array in {"x_train": _images(rng, y_train), "y_train": y_train.astype(np.int64),
                        "x_test": _images(rng, y_test), "y_test": y_test.astype(np.int64)}.items():
        np.save(folder / f"{name}.npy", array)
    sha256, size = arrays_sha256(folder)
    open_store(settings).publish_folder("datasets/tiny-s3", folder)
    with session_scope(settings.database_url) as session:
        for row in session.scalars(select(Dataset)):
            row.path, row.sha256, row.size_bytes = "datasets/tiny-s3", sha256, size
    return "datasets/tiny-s3"


def machine(settings, tmp_path, name: str):
    """The settings of a worker on its own machine: its own var folder, cache and scratch."""
    return dataclasses.replace(settings, var_dir=tmp_path / name, dataset_cache_dir=tmp_path / name / "cache",
                               artifact_dir=tmp_path / name / "artifacts")


def stored_weights(settings, job_id: int, tmp_path) -> dict[str, np.ndarray]:
    with session_scope(settings.database_url) as session:
        key = session.scalar(select(Model.path).where(Model.job_id == job_id))
    open_store(settings).get_file(key, tmp_path / f"model-{job_id}.npz")
    net, _metadata = load_model(tmp_path / f"model-{job_id}.npz")
    return net.state_arrays()


@pytest.fixture
def s3_settings(settings, s3, monkeypatch, tmp_path, dataset_id):  # noqa: F811
    use_s3(monkeypatch, s3)
    moved = dataclasses.replace(settings, artifact_url=os.environ["ARTIFACT_URL"])
    publish_tiny_dataset(moved, tmp_path)
    return moved


def test_job_stopped_on_one_machine_resumes_on_another_from_the_store(s3_settings, make_job, no_stop, tmp_path):
    params = {"checkpoint_every_steps": 3}
    straight, moved = make_job(**params), make_job(**params)
    assert run_train_job(straight, "a", machine(s3_settings, tmp_path, "a"), no_stop) == "succeeded"

    assert run_train_job(moved, "a", machine(s3_settings, tmp_path, "a"), StopAfter(11)) == "requeued"
    stopped = job_row(s3_settings, moved)
    assert stopped.checkpoint_path.endswith("attempt-1-step-000000011.npz")
    assert stored_checkpoints(s3_settings, moved) == [stopped.checkpoint_path]

    machine_b = machine(s3_settings, tmp_path, "b")
    assert run_train_job(moved, "b", machine_b, no_stop) == "succeeded"
    assert job_row(s3_settings, moved).attempt == 2
    assert len(list(machine_b.dataset_cache_dir.glob("*/x_train.npy"))) == 1  # b fetched the dataset itself
    assert stored_checkpoints(s3_settings, moved) == []
    for name, value in stored_weights(s3_settings, straight, tmp_path).items():
        np.testing.assert_allclose(stored_weights(s3_settings, moved, tmp_path)[name], value, rtol=1e-6, atol=1e-7)
    assert not (tmp_path / "a" / "artifacts").exists() and not (tmp_path / "b" / "artifacts").exists()


def test_store_down_mid_job_fails_it_with_the_reason(settings, make_job, monkeypatch, tmp_path, dataset_id):
    with s3_server() as server:
        use_s3(monkeypatch, server)
        down_soon = dataclasses.replace(settings, artifact_url=os.environ["ARTIFACT_URL"],
                                        store_retry_seconds=2)
        publish_tiny_dataset(down_soon, tmp_path)
        job_id = make_job(checkpoint_every_steps=3)
        status = run_train_job(job_id, "a", machine(down_soon, tmp_path, "a"), StopAfter(5, action=server.stop))
    assert status == "failed"
    job = job_row(settings, job_id)
    assert job.status == "failed" and job.model_id is None
    assert "could not be reached while storing checkpoints/job-" in job.error and "(tried for 2s)" in job.error
    # The row still names the last checkpoint stored whole (step 3), never the one that failed.
    assert job.checkpoint_path.endswith("attempt-1-step-000000003.npz")
