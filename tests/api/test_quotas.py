"""Per-user quotas and rate limits, counted in a real Redis; and fairness between users in the real
broker: one user's 50 queued jobs hold at most one message ahead of another user's single job."""
from __future__ import annotations

import pytest
import redis
from sqlalchemy import update

from services.api.app import create_app
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from shared.db.models import Job
from shared.queue import JOB_QUEUE, make_celery
from tests.api.conftest import TINY, RecordingQueue, npz_bytes, upload
from tests.support.accounts import add_account, bearer_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def limited(env, redis_url):
    """make(**environment) -> an app whose rate limits are counted in a real (emptied) Redis."""
    redis.Redis.from_url(redis_url).flushdb()
    env.setenv("REDIS_URL", redis_url)
    env.delenv("CONVFORGE_RATELIMIT_STORAGE_URL")
    apps = []

    def make(recording: bool = True, **environment):
        for name, value in environment.items():
            env.setenv(name, str(value))
        settings = load_settings()
        upgrade_to_head(settings.database_url)
        app = create_app(settings)
        if recording:
            app.extensions["convforge"].job_queue = RecordingQueue()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["convforge"].engine.dispose()


def user_client(app, name: str):
    return bearer_client(app, add_account(app, name).token)


def test_uploads_per_minute_are_limited_per_user(limited, redis_url):
    app = limited(CONVFORGE_RATE_UPLOADS="2/minute")
    alice, bob = user_client(app, "alice"), user_client(app, "bob")
    assert [upload(alice, npz_bytes()).status_code for _ in range(2)] == [201, 201]
    refused = upload(alice, npz_bytes())
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert refused.json["type"] == "urn:convforge:problem:rate-limited"
    detail = refused.json["detail"]
    assert "uploads per minute: 2 per 1 minute" in detail and "2 were used" in detail
    assert "CONVFORGE_RATE_UPLOADS" in detail and 0 < int(refused.headers["Retry-After"]) <= 60
    assert len(alice.get("/api/v1/datasets").json["items"]) == 2  # the refused upload stored nothing
    assert upload(bob, npz_bytes()).status_code == 201  # another user's count is their own
    assert any(b"/convforge/user:" in key for key in redis.Redis.from_url(redis_url).keys("*"))  # counted in Redis


def test_job_submissions_per_minute_are_limited(limited):
    app = limited(CONVFORGE_RATE_SUBMISSIONS="3/minute")
    alice = user_client(app, "alice")
    network = alice.post("/api/v1/networks", json=TINY).json["id"]
    dataset = upload(alice, npz_bytes()).json["id"]
    job = {"kind": "train", "network_id": network, "dataset_id": dataset}
    assert [alice.post("/api/v1/jobs", json=job).status_code for _ in range(3)] == [202, 202, 202]
    refused = alice.post("/api/v1/jobs", json=job)
    assert refused.status_code == 429 and "job submissions per minute: 3 per 1 minute" in refused.json["detail"]
    assert len(alice.get("/api/v1/jobs").json["items"]) == 3


def test_queued_jobs_quota_counts_waiting_jobs_only(limited):
    app = limited(CONVFORGE_QUOTA_QUEUED_JOBS=2)
    alice = user_client(app, "alice")
    network = alice.post("/api/v1/networks", json=TINY).json["id"]
    dataset = upload(alice, npz_bytes()).json["id"]
    job = {"kind": "train", "network_id": network, "dataset_id": dataset}
    first, _second = (alice.post("/api/v1/jobs", json=job).json for _ in range(2))
    refused = alice.post("/api/v1/jobs", json=job)
    assert refused.status_code == 429
    assert refused.json["detail"].startswith("queued jobs: 2 of 2 are waiting")
    assert alice.post(f"/api/v1/jobs/{first['id']}/cancel").status_code == 200
    assert alice.post("/api/v1/jobs", json=job).status_code == 202


def test_stored_bytes_quota_refuses_the_upload_that_would_pass_it(limited):
    app = limited(CONVFORGE_QUOTA_STORED_BYTES=20_000)
    alice = user_client(app, "alice")
    stored = upload(alice, npz_bytes(num_samples=60)).json
    assert stored["size_bytes"] < 20_000
    refused = upload(alice, npz_bytes(num_samples=300))
    assert refused.status_code == 413 and refused.json["type"] == "urn:convforge:problem:quota-exceeded"
    assert f"stored bytes: {stored['size_bytes']:,} of 20,000 used" in refused.json["detail"]
    assert [item["id"] for item in alice.get("/api/v1/datasets").json["items"]] == [stored["id"]]
    assert upload(user_client(app, "bob"), npz_bytes(num_samples=60)).status_code == 201


def delivery_order(settings) -> list[int]:
    """Job ids of the messages waiting in the broker, in the order workers would receive them."""
    celery = make_celery(settings)
    order = []
    with celery.connection_for_read() as connection:
        queue = connection.SimpleQueue(JOB_QUEUE)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                return order
            order.append(message.decode()[0][0])
            message.ack()


def test_one_users_backlog_does_not_starve_another_users_job(limited):
    app = limited(recording=False, CONVFORGE_RATE_SUBMISSIONS="1000/minute")
    alice, bob = user_client(app, "alice"), user_client(app, "bob")
    jobs = {}
    for name, client, count in (("alice", alice, 50), ("bob", bob, 1)):
        network = client.post("/api/v1/networks", json=TINY).json["id"]
        dataset = upload(client, npz_bytes()).json["id"]
        jobs[name] = [client.post("/api/v1/jobs", json={"kind": "train", "network_id": network,
                                                         "dataset_id": dataset}).json["id"] for _ in range(count)]
    order = delivery_order(app.extensions["convforge"].settings)
    assert sorted(order) == sorted(jobs["alice"] + jobs["bob"])
    # Bob's job is the second message a worker receives: only Alice's first is ahead of it.
    assert order.index(jobs["bob"][0]) == 1
    # Alice's own jobs keep their order.
    assert [job for job in order if job in jobs["alice"]] == jobs["alice"]


def test_a_queued_job_says_when_it_waits_for_its_owners_running_jobs(limited):
    app = limited(CONVFORGE_QUOTA_RUNNING_JOBS=1)
    alice, bob = user_client(app, "alice"), user_client(app, "bob")
    network = alice.post("/api/v1/networks", json=TINY).json["id"]
    dataset = upload(alice, npz_bytes()).json["id"]
    job = {"kind": "train", "network_id": network, "dataset_id": dataset}
    first, second = (alice.post("/api/v1/jobs", json=job).json["id"] for _ in range(2))
    assert alice.get(f"/api/v1/jobs/{second}").json["waiting_for"] is None  # nothing runs yet
    with app.extensions["convforge"].sessions() as session:
        session.execute(update(Job).where(Job.id == first).values(status="running"))
        session.commit()
    assert alice.get(f"/api/v1/jobs/{second}").json["waiting_for"] == (
        "its owner runs 1 of 1 jobs allowed at once (CONVFORGE_QUOTA_RUNNING_JOBS); it starts when one ends")
    assert alice.get(f"/api/v1/jobs/{first}").json["waiting_for"] is None  # running, not waiting
    # Another user's jobs are counted on their own.
    network = bob.post("/api/v1/networks", json=TINY).json["id"]
    dataset = upload(bob, npz_bytes()).json["id"]
    bobs = bob.post("/api/v1/jobs", json={"kind": "train", "network_id": network, "dataset_id": dataset}).json["id"]
    assert bob.get(f"/api/v1/jobs/{bobs}").json["waiting_for"] is None
