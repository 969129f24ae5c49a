"""A worker survives any message on its queue (real Redis, a real worker): unreadable ones are logged
and dropped, a job id that is not a whole number is refused rather than truncated, and a message that
names a job of the other kind is refused rather than run; the job they were queued with still runs,
once, from its own message."""
from __future__ import annotations

import json

import pytest
import redis
from celery import Celery

from shared.jobs import EVALUATE_TASK, TRAIN_TASK
from shared.queue import JOB_QUEUE
from tests.e2e.api import Client
from tests.e2e.processes import wait_for
from worker.housekeeping.lost_messages import message_target

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMALL_NET = {"name": "small", "input_shape": [1, 28, 28], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": 5, "stride": 2}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]}


def unreadable_envelope() -> str:
    """A message in kombu's shape whose base64 body is not base64."""
    return json.dumps({"body": "%%% not base64 %%%", "content-type": "application/json",
                       "content-encoding": "utf-8", "headers": {"task": TRAIN_TASK, "id": "x"},
                       "properties": {"delivery_tag": "forged", "body_encoding": "base64",
                                      "delivery_info": {"exchange": "", "routing_key": JOB_QUEUE}}})


def test_a_worker_survives_malformed_messages_and_still_runs_the_job(services):
    broker_url = services.start_redis()
    services.migrate()
    client = Client(services.start_api())
    dataset_id, network_id = client.upload_dataset(), client.create_network(SMALL_NET)
    job_id = client.train(network_id, dataset_id, epochs=1, batch_size=256)
    broker = redis.Redis.from_url(broker_url)
    sender = Celery("probe", broker=broker_url)

    # The job's own message is put back behind the bad ones, so the worker meets those first.
    own_message = broker.rpop(JOB_QUEUE)
    assert message_target(own_message) == (TRAIN_TASK, job_id)
    for raw in (b"not json", b"\xff\xfe not utf-8", b"[1, 2]", b'"text"', b"null", b'{"body": "no properties"}',
                unreadable_envelope()):
        broker.lpush(JOB_QUEUE, raw)
    refused_ids = (job_id + 0.9, str(job_id), True, None, 2**40)
    for value in refused_ids:
        sender.send_task(TRAIN_TASK, args=[value], queue=JOB_QUEUE)
    sender.send_task(EVALUATE_TASK, args=[job_id], queue=JOB_QUEUE)  # the wrong kind for this job
    sender.send_task(TRAIN_TASK, args=[], queue=JOB_QUEUE)  # no job id at all
    sender.send_task("os.system", args=["true"], queue=JOB_QUEUE)  # not one of ours
    sender.send_task(TRAIN_TASK, args=[job_id], queue=JOB_QUEUE, serializer="pickle")  # never unpickled
    broker.lpush(JOB_QUEUE, own_message)

    worker = services.start_worker("sturdy")
    pid = worker.process.pid
    job = client.wait_final(job_id, timeout=300)

    assert job["status"] == "succeeded" and job["attempt"] == 1, job
    assert worker.running and worker.process.pid == pid
    wait_for(lambda: broker.llen(JOB_QUEUE) == 0 and broker.hlen("unacked") == 0, 30,
             "every message to be consumed and acknowledged")
    log = worker.log_tail(400)
    assert "Unrecoverable error" not in log
    # Not JSON (kombu reads bytes that are not UTF-8 with replacement characters: not JSON either).
    assert log.count("dropped a message from the broker that could not be read (JSONDecodeError") == 2, log
    assert "(JSONDecodeError: Expecting value: line 1 column 1 (char 0)): 'not json'" in log
    assert " not utf-8'" in log
    # JSON, but not kombu's envelope.
    assert log.count("dropped a message from the broker that is not a kombu message") == 5, log
    assert "(KeyError: 'properties'): {'body': 'no properties'}" in log
    assert "(Error: Invalid base64-encoded string" in log
    for value in refused_ids:
        assert (f"refused a {TRAIN_TASK} message for job {value!r}: the job id must be a whole number "
                f"from 1 to {2**31 - 1}; the message is dropped") in log
    assert (f"refused a {EVALUATE_TASK} message for job {job_id}: it is a job of kind 'train'; "
            f"this task runs 'evaluate' jobs; the message is dropped") in log
    assert "train() missing 1 required positional argument: 'job_id'" in log
    assert "Received unregistered task of type 'os.system'" in log
    assert "untrusted content of type pickle" in log

    # The same while it waits for work.
    broker.lpush(JOB_QUEUE, b"{not json either")
    wait_for(lambda: "'{not json either'" in worker.log_tail(50), 30, "the worker to drop the message")
    assert worker.running and worker.process.pid == pid
    again = client.wait_final(client.train(network_id, dataset_id, epochs=1, batch_size=256), timeout=300)
    assert again["status"] == "succeeded", again
