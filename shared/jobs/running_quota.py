"""The per-user running jobs quota as both sides see it: the worker's claim enforces it
(worker/lifecycle/running_quota.py); the API's job view says when a queued job waits for it."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.models import Job

QUOTA_VARIABLE = "CONVFORGE_QUOTA_RUNNING_JOBS"


def running_jobs(session: Session, owner_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Job)
                              .where(Job.owner_id == owner_id, Job.status == "running")))


def waiting_reason(session: Session, job: Job, quota: int) -> str | None:
    """Why a queued job cannot start now, when its owner's running jobs are at the quota (0: no limit)."""
    if job.status != "queued" or job.owner_id is None or quota <= 0:
        return None
    running = running_jobs(session, job.owner_id)
    if running < quota:
        return None
    return f"its owner runs {running} of {quota} jobs allowed at once ({QUOTA_VARIABLE}); it starts when one ends"
