"""A job runs under one claim at a time: a second delivery of the same message never runs it."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import update

from shared.db.models import Job, utcnow
from shared.db.session import session_scope
from shared.jobs import as_utc
from shared.storage import open_store
from tests.worker.conftest import job_row, stored_checkpoints
from worker.housekeeping.reaper import requeue_stale_jobs, sweep_checkpoints
from worker.lifecycle.claim import claim_job
from worker.lifecycle.lease import JobLease
from worker.training.checkpoint import save_checkpoint
from worker.training.job_checkpoints import checkpoint_prefix


def _age_heartbeat(settings, job_id: int, seconds: float) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def test_second_claim_of_a_running_job_is_refused(settings, make_job):
    job_id = make_job()
    first = claim_job(settings.database_url, job_id, "w1", lease_seconds=30, max_lost_attempts=3)
    second = claim_job(settings.database_url, job_id, "w2", lease_seconds=30, max_lost_attempts=3)
    assert first is not None and first.attempt == 1 and not first.resumed
    assert second is None
    job = job_row(settings, job_id)
    assert (job.status, job.attempt, job.worker_name) == ("running", 1, "w1")
    assert job.started_at is not None and job.heartbeat_at is not None


def test_expired_lease_is_taken_over_once(settings, make_job):
    job_id = make_job()
    claim_job(settings.database_url, job_id, "w1", lease_seconds=30, max_lost_attempts=3)
    _age_heartbeat(settings, job_id, 60)
    takeover = claim_job(settings.database_url, job_id, "w2", lease_seconds=30, max_lost_attempts=3)
    again = claim_job(settings.database_url, job_id, "w3", lease_seconds=30, max_lost_attempts=3)
    assert takeover is not None and takeover.attempt == 2 and takeover.resumed
    assert again is None
    assert job_row(settings, job_id).worker_name == "w2"


def test_final_jobs_are_ignored(settings, make_job):
    job_id = make_job()
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="succeeded"))
    assert claim_job(settings.database_url, job_id, "w1", lease_seconds=30, max_lost_attempts=3) is None
    assert job_row(settings, job_id).status == "succeeded"


def test_cancelled_while_queued_never_starts(settings, make_job):
    job_id = make_job()
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    assert claim_job(settings.database_url, job_id, "w1", lease_seconds=30, max_lost_attempts=3) is None
    job = job_row(settings, job_id)
    assert job.status == "cancelled" and job.attempt == 0 and job.finished_at is not None


def test_missing_job_is_ignored(settings):
    assert claim_job(settings.database_url, 999, "w1", lease_seconds=30, max_lost_attempts=3) is None


def test_reaper_requeues_only_jobs_without_heartbeat(settings, make_job):
    stale, live = make_job(), make_job()
    for job_id in (stale, live):
        claim_job(settings.database_url, job_id, "w1", lease_seconds=30, max_lost_attempts=3)
    _age_heartbeat(settings, stale, 60)
    sent = []
    requeued = requeue_stale_jobs(settings.database_url, 30, lambda task, job_id: sent.append((task, job_id)), 3)
    assert requeued == [stale]
    assert sent == [("convforge.train", stale)]
    assert job_row(settings, stale).status == "queued"
    assert job_row(settings, live).status == "running"
    # The re-sent message claims it again as attempt 2.
    assert claim_job(settings.database_url, stale, "w2", lease_seconds=30, max_lost_attempts=3).attempt == 2


def test_kept_alive_lease_beats_while_the_loop_is_busy(settings, make_job):
    job_id = make_job()
    claim = claim_job(settings.database_url, job_id, "w1", lease_seconds=30, max_lost_attempts=3)
    lease = JobLease(settings.database_url, claim)
    _age_heartbeat(settings, job_id, 60)
    with lease.kept_alive(0.05):
        deadline = time.monotonic() + 30
        while utcnow() - as_utc(job_row(settings, job_id).heartbeat_at) > timedelta(seconds=30):
            assert time.monotonic() < deadline, "no heartbeat within 30s"
            time.sleep(0.05)
    assert requeue_stale_jobs(settings.database_url, 30, lambda task, job_id: None, 3) == []


def test_sweep_deletes_checkpoints_of_ended_jobs_only(settings, make_job, tmp_path):
    ended, queued = make_job(), make_job()
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == ended).values(status="cancelled"))
    store = open_store(settings)
    for job_id in (ended, queued, 999):
        save_checkpoint(tmp_path / "checkpoint.npz", {"position": {"seq": 1}})
        store.put_file(f"{checkpoint_prefix(job_id)}attempt-1-step-000000003.npz", tmp_path / "checkpoint.npz")
    assert sweep_checkpoints(settings.database_url, store) == [ended, 999]
    assert stored_checkpoints(settings, ended) == []
    assert len(stored_checkpoints(settings, queued)) == 1
