"""The running jobs quota with real Redis and real Celery workers: a user allowed one running job submits
two; the second waits, queued, while the first runs (its message delivered again later, not lost and
not spinning a worker), runs once the first has ended, and both succeed. Another user's job meanwhile
runs on the free worker. The delayed message stays visible in the broker, so the lost-message resender
(which looks at jobs queued for longer than the lease, here shorter than the wait) sends no copy."""
from __future__ import annotations

import re

from datetime import datetime

import pytest
import redis
from sqlalchemy.orm import Session

from shared.accounts import create_user, issue_token
from shared.db.session import make_engine
from shared.jobs import TRAIN_TASK
from tests.e2e.api import Client
from tests.e2e.processes import wait_for
from worker.housekeeping.lost_messages import messages_in_broker

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT = {"epochs": 1, "batch_size": 512}
LONGER = {"epochs": 6, "batch_size": 128}
LEASE_SECONDS = 4


def user_token(database_url: str, name: str) -> str:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            user = create_user(session, name, "user")
            _, secret = issue_token(session, user, "tests")
            session.commit()
            return secret
    finally:
        engine.dispose()


def moment(job: dict, which: str) -> datetime:
    return datetime.fromisoformat(job["timings"][which])


def test_a_users_second_job_runs_after_the_first_and_others_are_not_blocked(services):
    services.env.update(CONVFORGE_QUOTA_RUNNING_JOBS="1", JOB_LEASE_SECONDS=str(LEASE_SECONDS))
    broker = redis.Redis.from_url(services.start_redis())
    services.migrate()
    api_url = services.start_api()
    ann = Client(api_url, user_token(services.env["DATABASE_URL"], "ann"))
    bob = Client(api_url, user_token(services.env["DATABASE_URL"], "bob"))
    anns_data, anns_net = ann.upload_dataset(), ann.create_network()
    bobs_data, bobs_net = bob.upload_dataset(), bob.create_network()
    workers = [services.start_worker("one"), services.start_worker("two")]

    first = ann.train(anns_net, anns_data, **LONGER)
    wait_for(lambda: ann.job(first)["status"] == "running", 120, "ann's first job to start")
    second = ann.train(anns_net, anns_data, **SHORT)
    wait_for(lambda: any(f"job {second} waits" in worker.log_tail(400) for worker in workers), 120,
             "a worker to refuse ann's second job over her quota")
    assert ann.job(second)["status"] == "queued"
    # Its delayed message waits in a worker, delivered and unacknowledged: present in the broker.
    wait_for(lambda: (TRAIN_TASK, second) in messages_in_broker(broker), 3, "the delayed message in the broker")
    bobs = bob.train(bobs_net, bobs_data, **SHORT)

    jobs = {job_id: client.wait_final(job_id, timeout=600)
            for client, job_id in ((ann, first), (ann, second), (bob, bobs))}
    assert all(job["status"] == "succeeded" for job in jobs.values()), jobs
    # Ann's jobs ran one after the other; the refusals cost no attempt.
    assert moment(jobs[second], "started_at") >= moment(jobs[first], "finished_at")
    assert jobs[second]["attempt"] == 1
    # Bob's job did not wait for ann's.
    assert moment(jobs[bobs], "started_at") < moment(jobs[first], "finished_at")
    # A refused delivery is sent again after a pause, not in a tight loop.
    logs = "".join(worker.log_tail(2000) for worker in workers)
    assert 1 <= logs.count(f"job {second} waits") <= 60
    # A waiting job queued past the lease may have its message sent again by the lost-message resender
    # (between a refusal and its delayed copy reaching the broker); the claim still runs it once.
    assert len(re.findall(rf"train job {second}: succeeded", logs)) == 1
    broker.close()
