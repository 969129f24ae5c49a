"""A queued job whose message is not in the broker is sent again; a job whose message waits (or is being
worked on) is not, nor is a finished one. Real Redis, messages sent by Celery as the API sends them."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update

from shared.config import load_settings
from shared.db.models import Job, utcnow
from shared.db.session import session_scope
from shared.jobs import EVALUATE_TASK, TRAIN_TASK
from shared.queue import JOB_QUEUE, make_celery
from tests.support.fixtures import redis_url  # noqa: F401
from tests.support.services import free_port
from tests.worker.conftest import job_row
from worker.housekeeping.lost_messages import (
    CannotTell,
    message_target,
    messages_in_broker,
    queue_keys,
    resend_lost_messages,
)
from worker.lifecycle.claim import claim_job
from worker.training.train_job import run_train_job

GRACE = 30


class Broker:
    def __init__(self, url: str):
        self.url = url
        self.celery = make_celery(load_settings())
        self.client = redis.Redis.from_url(url)
        self.sent: list[tuple[str, int]] = []

    def send(self, task: str, job_id: int) -> None:
        """As the reaper sends: a fresh task id."""
        self.sent.append((task, job_id))
        self.celery.send_task(task, args=[job_id])

    def send_as_api(self, job_id: int, task: str = TRAIN_TASK, **options) -> None:
        self.celery.send_task(task, args=[job_id], task_id=f"convforge-job-{job_id}-1", **options)

    def waiting(self) -> list[tuple[str, int]]:
        """Targets of the messages in the queue's lists, oldest first."""
        return [message_target(raw) for key in queue_keys() for raw in reversed(self.client.lrange(key, 0, -1))]

    def resend(self, settings, **options) -> list[int]:
        return resend_lost_messages(settings.database_url, self.url, GRACE, self.send, **options)


@pytest.fixture
def broker(settings, redis_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REDIS_URL", redis_url)
    broker = Broker(redis_url)
    broker.client.flushdb()
    yield broker
    broker.client.close()
    broker.celery.close()


def queued_since(settings, job_id: int, seconds: float, **values) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job_id)
                        .values(created_at=utcnow() - timedelta(seconds=seconds), **values))


def test_queued_job_without_message_is_sent_again_and_runs_once(settings, make_job, broker, no_stop):
    lost = make_job()
    queued_since(settings, lost, GRACE * 4)
    assert broker.resend(settings) == [lost]
    assert broker.sent == [(TRAIN_TASK, lost)]
    assert broker.waiting() == [(TRAIN_TASK, lost)]
    # Now in the queue: the next pass leaves it alone.
    assert broker.resend(settings) == []
    assert len(broker.sent) == 1

    with broker.celery.connection_for_read() as connection:
        delivered = connection.default_channel.basic_get(JOB_QUEUE, no_ack=False)
        assert delivered.headers["task"] == TRAIN_TASK and delivered.decode()[0] == [lost]
        assert run_train_job(lost, "w1", settings, no_stop) == "succeeded"
        delivered.ack()
    job = job_row(settings, lost)
    assert (job.status, job.attempt) == ("succeeded", 1)
    # A late copy of the original message (had Redis only been slow) finds the job done.
    assert claim_job(settings.database_url, lost, "w2", lease_seconds=GRACE, max_lost_attempts=3) is None
    assert broker.resend(settings) == [] and broker.waiting() == []


def test_job_within_the_grace_period_is_not_sent(settings, make_job, broker):
    fresh = make_job()
    queued_since(settings, fresh, GRACE / 3)
    assert broker.resend(settings) == []
    assert broker.sent == [] and broker.waiting() == []


def test_job_given_back_recently_counts_from_its_heartbeat(settings, make_job, broker):
    returned = make_job()
    queued_since(settings, returned, GRACE * 4, attempt=1, heartbeat_at=utcnow() - timedelta(seconds=GRACE / 3))
    assert broker.resend(settings) == []
    queued_since(settings, returned, GRACE * 4, heartbeat_at=utcnow() - timedelta(seconds=GRACE * 2))
    assert broker.resend(settings) == [returned]


def test_long_queue_of_waiting_jobs_is_not_duplicated(settings, make_job, broker):
    waiting = [make_job() for _ in range(40)]
    lost = make_job()
    for job_id in waiting + [lost]:
        queued_since(settings, job_id, GRACE * 4)
    for job_id in waiting:
        broker.send_as_api(job_id)
    assert broker.resend(settings) == [lost]
    assert broker.sent == [(TRAIN_TASK, lost)]
    assert sorted(job_id for _task, job_id in broker.waiting()) == sorted(waiting + [lost])


def test_message_at_a_priority_or_of_an_evaluation_is_found(settings, make_job, broker):
    urgent, evaluation = make_job(), make_job()
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == evaluation).values(kind="evaluate"))
    for job_id in (urgent, evaluation):
        queued_since(settings, job_id, GRACE * 4)
    broker.send_as_api(urgent, priority=5)
    broker.send_as_api(evaluation, task=EVALUATE_TASK)
    assert broker.client.llen(queue_keys()[1]) == 1  # kombu's list for priorities 3 to 5
    assert broker.resend(settings) == []


def test_evaluation_message_does_not_stand_for_a_train_job(settings, make_job, broker):
    job_id = make_job()
    queued_since(settings, job_id, GRACE * 4)
    broker.send_as_api(job_id, task=EVALUATE_TASK)
    assert broker.resend(settings) == [job_id]
    assert broker.sent == [(TRAIN_TASK, job_id)]


def test_delivered_unacknowledged_message_counts_as_present(settings, make_job, broker):
    job_id = make_job()
    queued_since(settings, job_id, GRACE * 4)
    broker.send_as_api(job_id)
    with broker.celery.connection_for_read() as connection:
        delivered = connection.default_channel.basic_get(JOB_QUEUE, no_ack=False)
        assert delivered is not None and broker.waiting() == []
        unacked = broker.client.hgetall("unacked")
        assert [message_target(json.loads(value)[0]) for value in unacked.values()] == [(TRAIN_TASK, job_id)]
        assert broker.resend(settings) == []
        delivered.ack()
    assert broker.resend(settings) == [job_id]


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_jobs_in_a_final_state_are_never_touched(settings, make_job, broker, status):
    job_id = make_job()
    queued_since(settings, job_id, GRACE * 4, status=status, finished_at=utcnow())
    before = job_row(settings, job_id)
    assert broker.resend(settings) == []
    after = job_row(settings, job_id)
    assert broker.sent == [] and broker.waiting() == []
    assert (after.status, after.attempt, after.finished_at) == (before.status, before.attempt, before.finished_at)


def test_running_job_is_left_to_the_reaper(settings, make_job, broker):
    job_id = make_job()
    queued_since(settings, job_id, GRACE * 4)
    claim_job(settings.database_url, job_id, "w1", lease_seconds=GRACE, max_lost_attempts=3)
    assert broker.resend(settings) == []


def test_unreachable_broker_skips_the_pass(settings, make_job, broker, caplog):
    job_id = make_job()
    queued_since(settings, job_id, GRACE * 4)
    caplog.set_level(logging.WARNING, logger="worker.housekeeping.lost_messages")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    assert resend_lost_messages(settings.database_url, nowhere, GRACE, broker.send) == []
    assert broker.sent == []
    assert "cannot be reached" in caplog.text
    assert job_row(settings, job_id).status == "queued"


def test_queue_longer_than_the_bound_is_not_judged(settings, make_job, broker, caplog):
    waiting = [make_job() for _ in range(5)]
    lost = make_job()
    for job_id in waiting + [lost]:
        queued_since(settings, job_id, GRACE * 4)
    for job_id in waiting:
        broker.send_as_api(job_id)
    caplog.set_level(logging.WARNING, logger="worker.housekeeping.lost_messages")
    assert broker.resend(settings, limit=4) == []
    assert broker.sent == [] and "more than the 4" in caplog.text
    assert broker.resend(settings, limit=6) == [lost]


def test_one_caller_a_turn_reads_the_broker(settings, make_job, broker):
    first = make_job()
    queued_since(settings, first, GRACE * 4)
    assert broker.resend(settings, turn_seconds=600) == [first]
    second = make_job()
    queued_since(settings, second, GRACE * 4)
    assert broker.resend(settings, turn_seconds=600) == []  # another worker's turn was just taken
    assert broker.resend(settings) == [second]


def test_message_target_reads_celery_messages_and_ignores_others():
    assert message_target(b"not json") is None
    assert message_target(json.dumps({"headers": {"task": "someone.else", "argsrepr": "[3]"}})) is None
    # The body is unreadable, so the job id comes from argsrepr.
    assert message_target({"headers": {"task": TRAIN_TASK, "argsrepr": "(12,)"}, "body": "%%"}) == (TRAIN_TASK, 12)
    # Celery's message protocol 1 keeps task and args in the body.
    assert message_target({"headers": {}, "body": json.dumps({"task": EVALUATE_TASK, "args": [4]}),
                           "properties": {}}) == (EVALUATE_TASK, 4)
    with pytest.raises(CannotTell):
        message_target({"headers": {"task": TRAIN_TASK, "argsrepr": "[...]"}, "body": "%%"})


def test_unreadable_message_of_ours_stops_the_pass(settings, make_job, broker):
    job_id = make_job()
    queued_since(settings, job_id, GRACE * 4)
    broker.client.lpush(JOB_QUEUE, json.dumps({"headers": {"task": TRAIN_TASK, "argsrepr": "<...>"}, "body": "%%"}))
    assert broker.resend(settings) == []
    with pytest.raises(CannotTell):
        messages_in_broker(broker.client)
