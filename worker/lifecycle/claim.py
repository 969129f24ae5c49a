"""Claiming a job: one conditional UPDATE decides which delivery of a message may run it.

Celery may deliver a message twice (a restored unacked message, a reaper's re-send). Only the delivery
whose UPDATE matches a row runs the job:
- `queued -> running`, attempt + 1;
- a `running` job whose heartbeat is older than the lease (its worker vanished) is taken over by an
  UPDATE that also matches the old attempt and heartbeat, so two deliveries cannot both take it;
- a job in a final state, or running under a live lease, is left alone (the message is acked);
- a queued job whose owner already runs their quota of jobs stays queued, and the claim says so
  (worker/lifecycle/running_quota.py): the task delivers its message again later.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update

from shared.db.models import FINAL_STATES, Job, utcnow
from shared.db.session import session_scope
from shared.jobs import lease_expired
from shared.jobs.running_quota import QUOTA_VARIABLE
from worker.lifecycle.db_retry import with_retry
from worker.lifecycle.lost_attempts import fail_lost_job, gives_up
from worker.lifecycle.running_quota import (RETRY_SECONDS, OverRunningQuota, lock_owner, refusal,
                                            under_running_quota)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    job_id: int
    attempt: int
    resumed: bool  # True when taken over from a vanished worker


def claim_job(database_url: str, job_id: int, worker_name: str, lease_seconds: float,
              max_lost_attempts: int, running_quota: int = 0) -> Claim | OverRunningQuota | None:
    """Return the claim, or None when this delivery must not run the job, or OverRunningQuota when it
    must run later: its owner already runs `running_quota` jobs (0: no limit). Taking over from a
    vanished worker counts a lost attempt; the one that reaches `max_lost_attempts` fails the job
    instead."""
    return with_retry(lambda: _claim(database_url, job_id, worker_name, lease_seconds, max_lost_attempts,
                                     running_quota),
                      f"claiming job {job_id}")


def _claim(database_url: str, job_id: int, worker_name: str, lease_seconds: float,
           max_lost_attempts: int, running_quota: int) -> Claim | OverRunningQuota | None:
    now = utcnow()
    running = {
        "status": "running",
        "attempt": Job.attempt + 1,
        "worker_name": worker_name,
        "heartbeat_at": now,
        "started_at": func.coalesce(Job.started_at, now),
    }
    with session_scope(database_url) as session:
        lock_owner(session, job_id, running_quota)
        fresh = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued", Job.cancel_requested.is_(False),
                   under_running_quota(running_quota))
            .values(**running)
            .execution_options(synchronize_session=False)
        )
        if fresh.rowcount == 1:
            attempt = session.scalar(select(Job.attempt).where(Job.id == job_id))
            return Claim(job_id, attempt, resumed=attempt > 1)

        row = session.execute(
            select(Job.id, Job.owner_id, Job.status, Job.attempt, Job.heartbeat_at, Job.cancel_requested,
                   Job.lost_attempts, Job.epoch, Job.step).where(Job.id == job_id)
        ).one_or_none()
        if row is None or row.status in FINAL_STATES:
            return None
        if row.status == "queued" and row.cancel_requested:
            # Cancelled before it started: it never runs.
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="cancelled", finished_at=now)
                .execution_options(synchronize_session=False)
            )
            return None
        if row.status == "queued":
            return refusal(session, job_id, row.owner_id, running_quota)
        if row.status != "running" or not lease_expired(row.heartbeat_at, now, lease_seconds):
            return None
        if gives_up(row.lost_attempts, max_lost_attempts):
            if fail_lost_job(session, row, now):
                log.error("job %s failed: its worker died %s times", job_id, row.lost_attempts + 1)
            return None
        taken = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == "running",
                Job.attempt == row.attempt,
                Job.heartbeat_at == row.heartbeat_at,
            )
            .values(**running, lost_attempts=Job.lost_attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            return None
        return Claim(job_id, row.attempt + 1, resumed=True)


def waiting_or_skipped(refused: OverRunningQuota | None) -> str:
    """A task's status for a delivery that did not claim its job: 'waiting' (logged) when the job must
    run later, 'skipped' when this delivery has nothing to do."""
    if refused is None:
        return "skipped"
    log.info("job %s waits: its owner (user %s) runs %s of %s jobs allowed (%s); its message comes back in %ss",
             refused.job_id, refused.owner_id, refused.running, refused.quota, QUOTA_VARIABLE, RETRY_SECONDS)
    return "waiting"
