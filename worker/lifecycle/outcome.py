"""Ending a claimed job the same way for every kind: each early stop maps to one final state."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.exc import DBAPIError

from shared.storage import StoreError
from worker.lifecycle.errors import JobCancelled, JobFailed, ShutdownRequested
from worker.lifecycle.lease import JobLease, LeaseLost
from worker.training.job_checkpoints import JobCheckpoints

log = logging.getLogger(__name__)


class Outcome:
    """What happened, as the task reports it: 'succeeded', 'failed', 'cancelled', 'requeued', 'lost'."""

    def __init__(self) -> None:
        self.status = "succeeded"


@contextmanager
def job_outcome(lease: JobLease, checkpoints: JobCheckpoints | None = None) -> Iterator[Outcome]:
    """Run the body of a claimed job. Cancel -> 'cancelled'; JobFailed -> 'failed' with its sentence;
    shutdown -> back to 'queued' with the checkpoint kept; a lost lease -> nothing more is written.
    A database that stays unreachable propagates: the job keeps its stale heartbeat for the reaper."""
    outcome = Outcome()
    try:
        yield outcome
    except JobCancelled:
        lease.finish("cancelled")
        outcome.status = "cancelled"
    except ShutdownRequested:
        lease.finish("queued", worker_name=None)
        outcome.status = "requeued"
    except (JobFailed, StoreError) as exc:  # a store still unreachable after its retries says so
        log.warning("job %s failed: %s", lease.job_id, exc)
        lease.finish("failed", error=str(exc))
        outcome.status = "failed"
    except LeaseLost as exc:
        log.warning("%s; stopping without further writes", exc)
        outcome.status = "lost"
    except DBAPIError:
        raise
    except Exception as exc:
        log.exception("job %s failed", lease.job_id)
        lease.finish("failed", error=f"the worker hit an internal error: {exc}; the worker log has the details")
        outcome.status = "failed"
    if checkpoints is not None and outcome.status in ("succeeded", "failed", "cancelled"):
        checkpoints.remove()
    log.info("job %s attempt %s: %s", lease.job_id, lease.claim.attempt, outcome.status)
