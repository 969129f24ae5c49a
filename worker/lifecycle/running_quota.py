"""The per-user running jobs quota (CONVFORGE_QUOTA_RUNNING_JOBS), enforced where a job starts running
(shared/jobs/running_quota.py counts it for both sides).

The claim's conditional UPDATE (worker/lifecycle/claim.py) also requires that the job's owner has fewer
than the quota's jobs `running`, counted by a correlated subquery on the same table. Jobs owned by no
one, and every job when the quota is 0, are not limited. A job refused for this reason stays `queued`
and its task sends its message again after `RETRY_SECONDS` (Celery's retry with a countdown): the
delayed message waits in a worker, delivered and unacknowledged, so the lost-message resender finds it
in the broker and sends nothing; a duplicate would be harmless anyway, the claim decides. The worker
that holds a delayed message (solo pool) hands it to its task only between jobs, so the wait can be
longer than the countdown when that worker took other work meanwhile; if it is SIGKILLed, the message
comes back after the visibility timeout, like any message delivered and not acknowledged.

Concurrency. On SQLite a writer holds the database lock, so the count is exact. On PostgreSQL under
READ COMMITTED the subquery sees only rows committed before the UPDATE began: two workers claiming two
jobs of the same owner at once could both count one slot free and both start. The claim therefore
first locks the owner's `users` row (FOR NO KEY UPDATE, which does not block the key-share locks that
inserts referencing the user take); claims of one owner's jobs queue behind each other, and each
UPDATE, a new statement, sees the jobs the previous claim committed. The bound is then exact too.
A job whose worker died still counts as running until the reaper or a takeover notices (one lease).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from shared.db.models import Job, User
from shared.jobs.running_quota import running_jobs

# How long a job refused for its owner's running jobs waits before its message is delivered again.
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class OverRunningQuota:
    """The claim refused: the job's owner already runs `running` of `quota` jobs."""
    job_id: int
    owner_id: int
    running: int
    quota: int


def under_running_quota(quota: int) -> ColumnElement[bool]:
    """A condition on the UPDATEd `Job` row: its owner runs fewer than `quota` jobs (0: no limit)."""
    if quota <= 0:
        return true()
    other = aliased(Job)
    running = (select(func.count()).select_from(other)
               .where(other.owner_id == Job.owner_id, other.status == "running")
               .correlate(Job).scalar_subquery())
    return or_(Job.owner_id.is_(None), running < quota)


def lock_owner(session: Session, job_id: int, quota: int) -> None:
    """Serialise the claims of one owner's jobs (PostgreSQL; SQLite writers are serial already)."""
    if quota <= 0:
        return
    owner = select(Job.owner_id).where(Job.id == job_id).scalar_subquery()
    session.execute(select(User.id).where(User.id == owner).with_for_update(key_share=True))


def refusal(session: Session, job_id: int, owner_id: int | None, quota: int) -> OverRunningQuota | None:
    """Why a `queued` job's UPDATE matched nothing: its owner's running jobs, or None if they are not
    (or no longer) at the quota."""
    if quota <= 0 or owner_id is None:
        return None
    running = running_jobs(session, owner_id)
    if running < quota:
        return None
    return OverRunningQuota(job_id, owner_id, running, quota)
