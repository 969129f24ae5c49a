"""The running jobs quota is enforced by the claim itself: a job of an owner who already runs their
quota stays queued, and concurrent claims of one owner's jobs cannot pass it. On SQLite and on a real
PostgreSQL (READ COMMITTED, PostgreSQL's default)."""
from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import func, select, update

from shared.accounts import create_user
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from shared.db.models import Job
from shared.db.session import session_scope
from tests.support.fixtures import postgres_database_url, postgres_server_url  # noqa: F401
from tests.worker.conftest import job_row
from worker.lifecycle.claim import Claim, claim_job
from worker.lifecycle.running_quota import OverRunningQuota
from worker.training.train_job import run_train_job


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVFORGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("JOB_LEASE_SECONDS", "30")
    url = (request.getfixturevalue("postgres_database_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'var' / 'convforge.db'}")
    monkeypatch.setenv("DATABASE_URL", url)
    loaded = load_settings()
    upgrade_to_head(loaded.database_url)
    return loaded


@pytest.fixture
def users(settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        return [create_user(session, name).id for name in ("ann", "bob")]


@pytest.fixture
def owned_job(settings, make_job):
    def make(owner_id: int | None) -> int:
        job_id = make_job()
        with session_scope(settings.database_url) as session:
            session.execute(update(Job).where(Job.id == job_id).values(owner_id=owner_id))
        return job_id

    return make


def claim(settings, job_id: int, quota: int, worker: str = "w1"):
    return claim_job(settings.database_url, job_id, worker, lease_seconds=30, max_lost_attempts=3,
                     running_quota=quota)


def finish(settings, job_id: int) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="succeeded"))


def test_a_job_over_its_owners_quota_stays_queued_until_one_ends(settings, users, owned_job):
    ann, bob = users
    first, second, bobs = owned_job(ann), owned_job(ann), owned_job(bob)

    assert isinstance(claim(settings, first, quota=1), Claim)
    refused = claim(settings, second, quota=1, worker="w2")
    assert refused == OverRunningQuota(job_id=second, owner_id=ann, running=1, quota=1)
    job = job_row(settings, second)
    assert (job.status, job.attempt, job.worker_name, job.started_at) == ("queued", 0, None, None)
    # Another user's job is not held back by ann's.
    assert isinstance(claim(settings, bobs, quota=1, worker="w2"), Claim)

    finish(settings, first)
    taken = claim(settings, second, quota=1, worker="w2")
    assert isinstance(taken, Claim) and taken.attempt == 1
    assert job_row(settings, second).status == "running"


def test_jobs_of_no_one_and_a_zero_quota_are_not_limited(settings, users, owned_job):
    ann, _ = users
    ownerless = [owned_job(None) for _ in range(3)]
    assert all(isinstance(claim(settings, job_id, quota=1), Claim) for job_id in ownerless)
    anns = [owned_job(ann) for _ in range(3)]
    assert all(isinstance(claim(settings, job_id, quota=0), Claim) for job_id in anns)


def test_a_cancelled_or_running_job_is_not_reported_as_waiting(settings, users, owned_job):
    ann, _ = users
    running, cancelled = owned_job(ann), owned_job(ann)
    claim(settings, running, quota=1)
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == cancelled).values(cancel_requested=True))
    assert claim(settings, cancelled, quota=1) is None
    assert job_row(settings, cancelled).status == "cancelled"
    assert claim(settings, running, quota=1, worker="w2") is None  # a second delivery of a running job


def test_concurrent_claims_of_one_owners_jobs_stay_within_the_quota(settings, users, owned_job):
    ann, _ = users
    jobs = [owned_job(ann) for _ in range(6)]
    start = threading.Barrier(len(jobs))
    results: dict[int, object] = {}

    def take(job_id: int) -> None:
        start.wait()
        results[job_id] = claim(settings, job_id, quota=2, worker=f"w{job_id}")

    threads = [threading.Thread(target=take, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sum(isinstance(result, Claim) for result in results.values()) == 2
    assert sum(isinstance(result, OverRunningQuota) for result in results.values()) == 4
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Job)
                              .where(Job.owner_id == ann, Job.status == "running")) == 2


def test_the_train_task_body_reports_a_refused_job_as_waiting(settings, users, owned_job, no_stop):
    ann, _ = users
    running, waiting = owned_job(ann), owned_job(ann)
    claim(settings, running, quota=1)
    assert run_train_job(waiting, "w2", dataclasses.replace(settings, quota_running_jobs=1), no_stop) == "waiting"
    assert (job_row(settings, waiting).status, job_row(settings, waiting).attempt) == ("queued", 0)
