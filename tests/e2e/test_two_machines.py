"""Two workers standing for two machines: each with its own cache and scratch folders, no shared artifact
folder, the artifacts in S3 (a real moto server). A job trains on worker A, A is SIGKILLed, the job
resumes on worker B from the checkpoint in the store and ends with the model an uninterrupted run gives."""
from __future__ import annotations

import time

import numpy as np
import pytest

from shared.cnn import load_model
from tests.e2e.api import Client
from tests.e2e.processes import wait_for
from tests.e2e.test_resilience import assert_clean_history, kill_group
from tests.support.fixtures import s3  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_SECONDS = 5
PARAMS = {"epochs": 1, "batch_size": 32, "checkpoint_every_steps": 20, "log_every_steps": 5}


@pytest.fixture
def stack(services, s3):  # noqa: F811
    services.env.update({**s3.env, "ARTIFACT_URL": s3.new_bucket_url(), "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
                         "WORKER_METRICS_PORT": "0"})
    services.start_redis()
    services.migrate()
    client = Client(services.start_api())
    return services, client, client.upload_dataset()


def machine(services, name: str) -> dict[str, str]:
    """A worker's own folders: nothing on disk is shared with another worker or with the API."""
    root = services.root / f"machine-{name}"
    return {"CONVFORGE_VAR_DIR": str(root / "var"), "ARTIFACT_DIR": str(root / "artifacts"),
            "DATASET_CACHE_DIR": str(root / "cache")}


def model_weights(client: Client, job_id: int, tmp_path) -> dict[str, np.ndarray]:
    model_id = client.job(job_id)["model_id"]
    response = client.session.get(f"{client.base}/models/{model_id}/download", timeout=60)
    assert response.status_code == 200, response.text
    path = tmp_path / f"model-{job_id}.npz"
    path.write_bytes(response.content)
    net, _metadata = load_model(path)
    return net.state_arrays()


def test_job_killed_on_machine_a_resumes_on_machine_b_with_the_same_model(stack, tmp_path):
    services, client, dataset_id = stack
    network_id = client.create_network()
    worker_a = services.start_worker("a", machine(services, "a"))
    straight = client.train(network_id, dataset_id, **PARAMS)
    assert client.wait_final(straight)["status"] == "succeeded"

    moved = client.train(network_id, dataset_id, **PARAMS)
    client.wait_progress(moved, min_step=70)
    kill_group(worker_a)
    killed_at = time.monotonic()
    worker_b = services.start_worker("b", machine(services, "b"))
    resumed = wait_for(lambda: (job := client.job(moved))["attempt"] == 2 and job, 120, "the job to be taken up by b")
    assert resumed["progress"]["step"] >= 60  # from the checkpoint in the store, not from scratch
    job = client.wait_final(moved)
    print(f"\nresumed on b {time.monotonic() - killed_at:.1f}s after SIGKILL of a; "
          f"finished at step {job['progress']['step']}")
    assert job["status"] == "succeeded", job["error"]
    assert job["worker_name"].startswith("b@") and job["attempt"] == 2
    assert_clean_history(client, moved)

    expected, actual = model_weights(client, straight, tmp_path), model_weights(client, moved, tmp_path)
    assert expected.keys() == actual.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
    # Each machine fetched the dataset into its own cache; no artifact folder on either.
    for name in "ab":
        root = services.root / f"machine-{name}"
        assert len(list((root / "cache").glob("*/x_train.npy"))) == 1
        assert not (root / "artifacts" / "datasets").exists() and not (root / "artifacts" / "models").exists()
    assert "fetched into the cache" in worker_b.log_tail(400)
