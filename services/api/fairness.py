"""Fairness between users sharing the workers.

Policy: a job's message is queued at a priority level that falls with the number of jobs its owner
already has waiting or running. A user's first outstanding job goes in at the first level, their
second at the next, ..., their fourth and later at the last (kombu's Redis levels 0, 3, 6, 9); workers
take the first level first, in order of arrival within a level. So one user's 50 queued jobs hold at
most one message ahead of another user's single job: that job starts on the next worker that frees
up, whatever the backlog.
A job's priority is fixed when it is sent; a message sent again (lost, or given back at shutdown) goes
in at the highest level, since its job had already been waiting.
"""
from __future__ import annotations

from sqlalchemy import func, select

from services.api.extensions import db
from shared.db.models import Job
from shared.queue import PRIORITY_LEVELS


def fair_priority(job: Job) -> int:
    ahead = db().scalar(select(func.count()).select_from(Job).where(
        Job.owner_id == job.owner_id, Job.status.in_(("queued", "running")), Job.id != job.id))
    return PRIORITY_LEVELS[min(int(ahead), len(PRIORITY_LEVELS) - 1)]
