"""Jobs survive a killed worker, a stopped worker, a lost message, and cancellation, with real Redis and
real workers.

Kills happen at progress points (a job's step), never after fixed sleeps. The lease is short here
(JOB_LEASE_SECONDS=5) so the reaper gives a vanished worker's job back within seconds.
"""
from __future__ import annotations

import os
import random
import signal
import time

import pytest
import redis

from shared.jobs import TRAIN_TASK
from shared.queue import JOB_QUEUE
from tests.e2e.api import Client
from tests.e2e.processes import wait_for
from worker.housekeeping.lost_messages import message_target, queue_keys

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_SECONDS = 5
# LeNet-5 at batch 16 takes seconds per epoch, so a kill at a step lands mid-job; this one is for jobs
# that are cancelled before they could end.
SMALL_NET = {"name": "small", "input_shape": [1, 28, 28], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": 5, "stride": 2}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]}


@pytest.fixture
def stack(services):
    services.env["JOB_LEASE_SECONDS"] = str(LEASE_SECONDS)
    services.start_redis()
    services.migrate()
    client = Client(services.start_api())
    return services, client, client.upload_dataset()


def kill_group(worker) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=30)


def assert_clean_history(client: Client, job_id: int) -> list[dict]:
    metrics = client.metrics(job_id)
    assert [row["seq"] for row in metrics] == list(range(1, len(metrics) + 1)), "metric seqs have gaps or repeats"
    train_steps = [row["step"] for row in metrics if row["kind"] == "train"]
    assert train_steps == sorted(set(train_steps)), "a training step was logged twice"
    return metrics


def models_of(client: Client, job_id: int) -> list[dict]:
    return [model for model in client.get("/models", limit=100)["items"] if model.get("job_id") == job_id]


def test_sigkilled_worker_job_completes_exactly_once_after_restart(stack):
    services, client, dataset_id = stack
    network_id = client.create_network()
    worker = services.start_worker("first")
    job_id = client.train(network_id, dataset_id, epochs=2, batch_size=16, checkpoint_every_steps=20,
                          log_every_steps=5)
    client.wait_progress(job_id, min_step=60)
    # Busy, so it answers no ping, yet listed: its presence key is alive.
    assert any(name.startswith("first@") for name in client.get("/health")["workers"])
    kill_group(worker)
    killed_at = time.monotonic()
    assert client.job(job_id)["status"] == "running"  # nobody knows yet
    wait_for(lambda: not any(name.startswith("first@") for name in client.get("/health")["workers"]),
             60, "the killed worker to drop out of /health")

    services.start_worker("second")
    resumed = wait_for(lambda: (job := client.job(job_id))["attempt"] == 2 and job["status"] == "running" and job,
                       120, "the job to be taken up again")
    print(f"\nrecovered {time.monotonic() - killed_at:.1f}s after SIGKILL (lease {LEASE_SECONDS}s)")
    assert resumed["progress"]["step"] >= 40  # resumed from a checkpoint, not from scratch
    job = client.wait_final(job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 2 and job["worker_name"].startswith("second@")
    assert_clean_history(client, job_id)
    assert len(models_of(client, job_id)) == 1


def test_sigterm_checkpoints_and_returns_the_job(stack):
    services, client, dataset_id = stack
    network_id = client.create_network()
    worker = services.start_worker("leaving")
    job_id = client.train(network_id, dataset_id, epochs=2, batch_size=16, checkpoint_every_steps=1000,
                          log_every_steps=5)
    client.wait_progress(job_id, min_step=30)
    os.kill(worker.process.pid, signal.SIGTERM)  # as `docker stop` does
    assert worker.process.wait(timeout=90) == 0
    stopped = client.job(job_id)
    assert stopped["status"] == "queued" and stopped["attempt"] == 1
    stopped_step = stopped["progress"]["step"]

    services.start_worker("arriving")
    resumed = wait_for(lambda: (job := client.job(job_id))["attempt"] == 2 and job, 60, "the job to restart")
    assert resumed["progress"]["step"] >= stopped_step  # from the shutdown checkpoint
    job = client.wait_final(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert_clean_history(client, job_id)


def test_cancel_while_queued_and_while_running(stack):
    services, client, dataset_id = stack
    network_id = client.create_network(SMALL_NET)
    queued = client.train(network_id, dataset_id, epochs=1)
    assert client.post(f"/jobs/{queued}/cancel", {}, 200)["status"] == "cancelled"

    services.start_worker("canceller")
    running = client.train(network_id, dataset_id, epochs=500)
    client.wait_progress(running, min_step=5)
    client.post(f"/jobs/{running}/cancel", {}, 202)
    job = client.wait_final(running, timeout=60)
    assert job["status"] == "cancelled" and job["model_id"] is None
    assert job["progress"]["step"] < job["progress"]["steps"]
    # The queued one never ran, even with a worker around.
    later = client.train(network_id, dataset_id, epochs=1)
    assert client.wait_final(later)["status"] == "succeeded"
    first = client.job(queued)
    assert first["status"] == "cancelled" and first["attempt"] == 0


CHAOS_KILLS = 3
# One job may take every kill; the workers must not give it up as lost (MAX_LOST_ATTEMPTS) before then.
CHAOS_WORKER_ENV = {"MAX_LOST_ATTEMPTS": str(CHAOS_KILLS + 1)}


def test_chaos_random_kills_every_job_succeeds_once(stack):
    services, client, dataset_id = stack
    rng = random.Random(20261127)
    network_id = client.create_network()
    jobs = [client.train(network_id, dataset_id, epochs=1, batch_size=16, seed=index, checkpoint_every_steps=25,
                         log_every_steps=10) for index in range(3)]
    started = time.monotonic()
    worker, kills, recoveries = services.start_worker("chaos0", CHAOS_WORKER_ENV), 0, []

    def running_job():
        states = {job_id: client.job(job_id) for job_id in jobs}
        running = [job for job in states.values() if job["status"] == "running"]
        if running:
            return running[0]
        return "done" if all(job["status"] == "succeeded" for job in states.values()) else None

    while kills < CHAOS_KILLS:
        target = wait_for(running_job, 300, "a running job")
        if target == "done":
            break
        kill_step = rng.randint(10, 300)  # of 338

        def at_kill_point():
            job = client.job(target["id"])
            return job if job["status"] != "running" or job["progress"]["step"] >= kill_step else None

        if wait_for(at_kill_point, 300, "the kill point")["status"] != "running":
            continue
        kill_group(worker)
        killed_at, kills = time.monotonic(), kills + 1
        worker = services.start_worker(f"chaos{kills}", CHAOS_WORKER_ENV)
        # Recovered: the dead worker's job is back in the queue (or already taken up again).
        wait_for(lambda: (job := client.job(target["id"]))["status"] != "running" or job["attempt"] > target["attempt"],
                 120, "the killed job to be given back")
        recoveries.append(time.monotonic() - killed_at)
    finished = [client.wait_final(job_id) for job_id in jobs]
    print(f"\nchaos: {len(jobs)} jobs, {kills} kills, recovery {', '.join(f'{s:.1f}s' for s in recoveries)}, "
          f"total {time.monotonic() - started:.0f}s")
    assert kills >= 1
    for job in finished:
        assert job["status"] == "succeeded", job["error"]
        assert_clean_history(client, job["id"])
        assert len(models_of(client, job["id"])) == 1
    # Each kill costs at most one extra attempt (none if the job had just finished).
    assert len(jobs) < sum(job["attempt"] for job in finished) <= len(jobs) + kills


def test_redis_restart_during_a_job_loses_nothing(stack):
    services, client, dataset_id = stack
    network_id = client.create_network()
    services.start_worker("steady")
    running = client.train(network_id, dataset_id, epochs=1, batch_size=16)
    client.wait_progress(running, min_step=20)
    # Queued behind the running one (one job per worker), so only Redis holds their messages.
    waiting = [client.train(network_id, dataset_id, epochs=1, seed=seed) for seed in (1, 2)]
    assert all(client.job(job_id)["status"] == "queued" for job_id in waiting)
    services.restart_redis()
    for job_id in [running, *waiting]:
        job = client.wait_final(job_id)
        assert job["status"] == "succeeded" and job["attempt"] == 1, job
        assert_clean_history(client, job_id)


def test_job_whose_message_was_lost_is_sent_again_and_runs(stack):
    services, client, dataset_id = stack
    network_id = client.create_network(SMALL_NET)
    worker = services.start_worker("sweeper")
    # One job keeps the worker busy, so the others wait in Redis behind it.
    busy = client.train(network_id, dataset_id, epochs=500)
    client.wait_progress(busy, min_step=1)
    waiting = client.train(network_id, dataset_id, epochs=1, seed=2)
    lost = client.train(network_id, dataset_id, epochs=1, seed=3)
    # Redis loses the message of `lost` (as a crash between two fsyncs would); its row stays queued.
    # (It waits in one of the queue's priority lists: services/api/fairness.py.)
    broker = redis.Redis.from_url(services.env["REDIS_URL"])
    with broker:
        ours = [(key, raw) for key in queue_keys(JOB_QUEUE) for raw in broker.lrange(key, 0, -1)
                if message_target(raw) == (TRAIN_TASK, lost)]
        assert len(ours) == 1 and broker.lrem(ours[0][0], 0, ours[0][1]) == 1
    # After the lease the worker's reaper sends it again; the job still waiting its turn is left alone.
    wait_for(lambda: f"job {lost} has been queued" in worker.log_tail(400), 120, "the lost job to be sent again")
    assert client.job(waiting)["status"] == "queued" and client.job(lost)["status"] == "queued"
    client.post(f"/jobs/{busy}/cancel", {}, 202)
    for job_id in (waiting, lost):
        job = client.wait_final(job_id)
        assert job["status"] == "succeeded" and job["attempt"] == 1, job
        assert_clean_history(client, job_id)
        assert len(models_of(client, job_id)) == 1
    assert f"job {waiting} has been queued" not in worker.log_tail(1000)
