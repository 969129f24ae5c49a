"""A job whose worker keeps vanishing is failed after MAX_LOST_ATTEMPTS losses, with the reason, whether
the loss is noticed by a claim taking over the stale lease or by the reaper requeueing the job."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from shared.db.models import Job, utcnow
from shared.db.session import session_scope
from tests.worker.conftest import job_row
from worker.housekeeping.reaper import requeue_stale_jobs
from worker.lifecycle.claim import claim_job

LEASE = 30


def vanish(settings, job_id: int, epoch: int = 2, step: int = 140) -> None:
    """The running job's worker died at (epoch, step): its heartbeat is older than the lease."""
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            heartbeat_at=utcnow() - timedelta(seconds=2 * LEASE), epoch=epoch, step=step))


def claim(settings, job_id: int, worker: str, max_lost: int = 3):
    return claim_job(settings.database_url, job_id, worker, lease_seconds=LEASE, max_lost_attempts=max_lost)


def test_claims_taking_over_a_vanished_worker_give_up_at_the_third_loss(settings, make_job):
    job_id = make_job()
    assert claim(settings, job_id, "w1").attempt == 1
    vanish(settings, job_id)
    assert claim(settings, job_id, "w2").attempt == 2
    vanish(settings, job_id)
    assert claim(settings, job_id, "w3").attempt == 3
    assert job_row(settings, job_id).lost_attempts == 2
    vanish(settings, job_id, epoch=2, step=140)

    assert claim(settings, job_id, "w4") is None

    job = job_row(settings, job_id)
    assert (job.status, job.lost_attempts, job.worker_name) == ("failed", 3, None)
    assert job.finished_at is not None
    assert job.error == ("the worker died 3 times while running this job; last seen at epoch 2 step 140; "
                         "likely out of memory")
    assert claim(settings, job_id, "w5") is None and job_row(settings, job_id).status == "failed"


def test_the_reaper_gives_up_at_the_third_loss_and_sends_nothing(settings, make_job):
    job_id = make_job()
    sent = []
    for attempt in (1, 2):
        assert claim(settings, job_id, f"w{attempt}").attempt == attempt
        vanish(settings, job_id, epoch=1, step=10 * attempt)
        assert requeue_stale_jobs(settings.database_url, LEASE, lambda task, job: sent.append(job), 3) == [job_id]
        assert job_row(settings, job_id).status == "queued"
    assert claim(settings, job_id, "w3").attempt == 3
    vanish(settings, job_id, epoch=1, step=30)

    assert requeue_stale_jobs(settings.database_url, LEASE, lambda task, job: sent.append(job), 3) == []

    assert sent == [job_id, job_id]
    job = job_row(settings, job_id)
    assert (job.status, job.lost_attempts) == ("failed", 3)
    assert "died 3 times" in job.error and "epoch 1 step 30" in job.error


def test_a_loss_before_the_first_step_says_so(settings, make_job):
    job_id = make_job()
    claim(settings, job_id, "w1", max_lost=1)
    vanish(settings, job_id, epoch=0, step=0)
    assert requeue_stale_jobs(settings.database_url, LEASE, lambda task, job: None, 1) == []
    assert job_row(settings, job_id).error == ("the worker died 1 time while running this job; last seen "
                                               "before its first step; likely out of memory")


def test_a_job_given_back_on_shutdown_does_not_count_a_loss(settings, make_job):
    job_id = make_job()
    for attempt in range(1, 6):
        assert claim(settings, job_id, f"w{attempt}").attempt == attempt
        # A worker stopping cleanly hands the job back to the queue itself.
        with session_scope(settings.database_url) as session:
            session.execute(update(Job).where(Job.id == job_id).values(status="queued", worker_name=None))
    job = job_row(settings, job_id)
    assert (job.status, job.lost_attempts, job.error) == ("queued", 0, None)
