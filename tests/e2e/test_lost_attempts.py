"""A job that kills its worker every time is not retried forever: with real Redis and real workers, each
SIGKILLed mid-job, the job fails after MAX_LOST_ATTEMPTS losses with the reason, and the next worker
does not run it."""
from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.api import Client
from tests.e2e.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_SECONDS = 5
MAX_LOST = 2


def kill_group(worker) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=30)


def test_a_job_whose_worker_dies_every_time_fails_with_the_reason(services):
    services.env.update(JOB_LEASE_SECONDS=str(LEASE_SECONDS), MAX_LOST_ATTEMPTS=str(MAX_LOST))
    services.start_redis()
    services.migrate()
    client = Client(services.start_api())
    dataset_id = client.upload_dataset()
    network_id = client.create_network()
    job_id = client.train(network_id, dataset_id, epochs=3, batch_size=16, checkpoint_every_steps=20,
                          log_every_steps=5)

    for attempt in range(1, MAX_LOST + 1):
        worker = services.start_worker(f"doomed{attempt}")
        wait_for(lambda: (job := client.job(job_id))["attempt"] == attempt and job["progress"]["step"] >= 5
                 and job["status"] == "running", 180, f"attempt {attempt} to make progress")
        kill_group(worker)

    # The next worker's reaper (or its claim of the re-sent message) notices the last loss.
    survivor = services.start_worker("survivor")
    job = client.wait_final(job_id, timeout=180)

    assert job["status"] == "failed"
    assert job["error"].startswith(f"the worker died {MAX_LOST} times while running this job; last seen at "
                                   f"epoch 1 step ")
    assert job["error"].endswith("; likely out of memory")
    assert job["attempt"] == MAX_LOST  # the survivor never ran it
    assert survivor.running
