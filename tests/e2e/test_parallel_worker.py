"""Data parallelism inside the Celery worker exactly as deployed (`convforge worker`: solo pool, real
Redis, the API under gunicorn): a `workers=2` job trains the same model as a `workers=1` job; cancelling
or SIGKILLing the worker during a `workers=2` job leaves no process and no /dev/shm segment behind."""
from __future__ import annotations

import os
import signal

import numpy as np
import psutil
import pytest

from shared.cnn import load_model
from tests.e2e.api import Client
from tests.e2e.processes import descendants_alive, wait_for
from worker.training.parallel.segment import PREFIX, SHM_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Batch 512 and a gentle learning rate: the float32 rounding of a different summation order stays far
# below the tolerance over the epoch's 11 steps, so the two models must agree closely.
SHORT = {"epochs": 1, "batch_size": 512, "optimizer": {"type": "sgd", "lr": 0.02, "momentum": 0.9}}
LONG = {"epochs": 200, "batch_size": 128}


def shard_pids(worker_pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(worker_pid).children(recursive=True)
            if "worker.training.parallel.shard_process" in " ".join(child.cmdline())]


def segments_of(pid: int) -> list[str]:
    return [name for name in os.listdir(SHM_DIR) if name.startswith(f"{PREFIX}{pid}-")]


def model_params(api_url: str, job: dict, folder) -> dict[str, np.ndarray]:
    download = Client(api_url).session.get(f"{api_url}/api/v1/models/{job['model_id']}/download", timeout=60)
    assert download.status_code == 200
    path = folder / f"model-{job['id']}.npz"
    path.write_bytes(download.content)
    net, _ = load_model(path)
    return net.params


@pytest.fixture
def stack(services):
    services.start_redis()
    services.migrate()
    api_url = services.start_api()
    worker = services.start_worker("parallel")
    client = Client(api_url)
    return services, worker, client, client.upload_dataset(), client.create_network()


def test_workers_2_trains_the_same_model_as_workers_1(stack, tmp_path):
    services, worker, client, dataset_id, network_id = stack
    single = client.wait_final(client.train(network_id, dataset_id, workers=1, **SHORT))
    parallel_id = client.train(network_id, dataset_id, workers=2, **SHORT)
    parallel = client.wait_final(parallel_id)
    assert single["status"] == "succeeded", single["error"]
    assert parallel["status"] == "succeeded", parallel["error"]

    # The job really ran in two processes inside the worker.
    log = worker.log_file.read_text(errors="replace")
    assert f"data parallel: 2 processes, this one ({worker.process.pid})" in log

    expected = model_params(services.api_url, single, tmp_path)
    actual = model_params(services.api_url, parallel, tmp_path)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=1e-5, err_msg=name)

    # Progress and metrics as with one process.
    metrics = client.metrics(parallel_id)
    assert [row["seq"] for row in metrics] == list(range(1, len(metrics) + 1))
    assert all(row["images_per_second"] > 0 for row in metrics if row["kind"] == "train")
    assert parallel["progress"]["step"] == parallel["progress"]["steps"] == 11
    assert shard_pids(worker.process.pid) == [] and segments_of(worker.process.pid) == []


def test_cancel_and_sigkill_during_a_workers_2_job_leave_nothing_behind(stack):
    services, worker, client, dataset_id, network_id = stack
    worker_pid = worker.process.pid

    # Cancel: the job stops within a step, its shard process exits, the worker lives on.
    job_id = client.train(network_id, dataset_id, workers=2, **LONG)
    shards = wait_for(lambda: shard_pids(worker_pid), 120, "the job's shard process to start")
    client.wait_progress(job_id, min_step=2)
    assert client.post(f"/jobs/{job_id}/cancel", {}, 202)["id"] == job_id
    assert client.wait_final(job_id, timeout=120)["status"] == "cancelled"
    wait_for(lambda: not descendants_alive(shards), 30, "the cancelled job's shard process to exit")
    assert worker.running and segments_of(worker_pid) == []

    # SIGKILL the worker mid-job: nobody is left to clean up but the shard processes themselves.
    job_id = client.train(network_id, dataset_id, workers=2, **LONG)
    shards = wait_for(lambda: shard_pids(worker_pid), 120, "the next job's shard process to start")
    client.wait_progress(job_id, min_step=2)
    descendants = [child.pid for child in psutil.Process(worker_pid).children(recursive=True)]
    assert set(shards) <= set(descendants)
    os.kill(worker_pid, signal.SIGKILL)
    worker.process.wait(timeout=30)
    wait_for(lambda: not descendants_alive(descendants), 30, "the killed worker's processes to exit")
    assert segments_of(worker_pid) == []
