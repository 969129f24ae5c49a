"""The API's producer against a real Redis: the message carries the task name and the job id only."""
import base64
import json
from datetime import datetime, timezone

import pytest
import redis

from services.api.job_queue import BrokerUnavailable, JobQueue, task_id_for
from shared.config import load_settings
from shared.db.models import Job
from shared.jobs import TRAIN_TASK
from shared.queue import JOB_QUEUE
from tests.support.services import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def real_queue(env, redis_url):
    env.setenv("REDIS_URL", redis_url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield JobQueue(load_settings()), client
    client.flushdb()
    client.close()


def job(job_id: int, created_at: datetime) -> Job:
    return Job(id=job_id, kind="train", created_at=created_at)


def test_send_puts_one_message_with_the_job_id(real_queue):
    queue, client = real_queue
    queue.send(job(17, datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone.utc)))
    assert client.llen(JOB_QUEUE) == 1
    message = json.loads(client.lindex(JOB_QUEUE, 0))
    assert message["headers"]["task"] == TRAIN_TASK
    assert message["headers"]["id"] == "convforge-job-17-1767323045000678"
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert (args, kwargs) == ([17], {})


def test_task_id_is_the_same_from_a_naive_sqlite_time():
    aware = datetime(2026, 5, 6, 7, 8, 9, 10, tzinfo=timezone.utc)
    assert task_id_for(job(3, aware)) == task_id_for(job(3, aware.replace(tzinfo=None)))
    assert task_id_for(job(3, aware)) != task_id_for(job(3, aware.replace(microsecond=11)))


def test_ping_and_revoke_with_a_live_broker(real_queue):
    queue, _client = real_queue
    assert queue.ping_broker() is None
    queue.revoke(job(3, datetime.now(timezone.utc)))  # broadcast; no worker listens, and that is fine
    assert queue.live_workers(timeout=0.2) == []


def test_unreachable_broker_raises_broker_unavailable(env):
    env.setenv("REDIS_URL", f"redis://:secret@127.0.0.1:{free_port()}/0")
    queue = JobQueue(load_settings())
    with pytest.raises(BrokerUnavailable) as caught:
        queue.send(job(1, datetime.now(timezone.utc)))
    assert "secret" not in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert queue.ping_broker() is not None
