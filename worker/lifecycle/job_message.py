"""What a task takes as its job: the id of an existing job of the task's own kind, given as a whole
number. A float or a text is refused, not truncated or parsed (2.9 must not run job 2), and a train
message naming an evaluate job (or the reverse) is refused rather than run as the wrong kind. A refused
message is logged and acknowledged: it is dropped and the worker goes on."""
from __future__ import annotations

import logging

from sqlalchemy import select

from shared.db.models import MAX_ID, Job
from shared.db.session import session_scope
from worker.lifecycle.db_retry import with_retry

log = logging.getLogger(__name__)


def accepted_job_id(task: str, kind: str, value: object, database_url: str) -> int | None:
    """`value` when it names a job of `kind`; otherwise None, with the reason logged."""
    if type(value) is not int or not 1 <= value <= MAX_ID:
        return _refuse(task, value, f"the job id must be a whole number from 1 to {MAX_ID}")
    found = with_retry(lambda: _kind_of(database_url, value), f"reading the kind of job {value}")
    if found is None:
        return _refuse(task, value, "there is no such job")
    if found != kind:
        return _refuse(task, value, f"it is a job of kind {found!r}; this task runs {kind!r} jobs")
    return value


def _kind_of(database_url: str, job_id: int) -> str | None:
    with session_scope(database_url) as session:
        return session.scalar(select(Job.kind).where(Job.id == job_id))


def _refuse(task: str, value: object, reason: str) -> None:
    log.error("refused a %s message for job %.100r: %s; the message is dropped", task, value, reason)
    return None
