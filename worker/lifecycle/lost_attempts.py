"""A job whose worker keeps dying (killed, out of memory) is failed after MAX_LOST_ATTEMPTS losses
instead of being handed to the next worker forever. Both places that notice a lost worker, the claim
(taking over a stale lease) and the reaper (requeueing it), count the loss with the same rule."""
from __future__ import annotations

from sqlalchemy import update

from shared.db.models import Job


def gives_up(lost_attempts_before: int, max_lost_attempts: int) -> bool:
    """Whether this loss (one more than `lost_attempts_before`) is the last one allowed."""
    return lost_attempts_before + 1 >= max_lost_attempts


def lost_worker_error(times: int, epoch: int, step: int) -> str:
    where = f"at epoch {epoch} step {step}" if epoch else "before its first step"
    return (f"the worker died {times} time{'s' if times != 1 else ''} while running this job; last seen "
            f"{where}; likely out of memory")


def fail_lost_job(session, row, now) -> bool:
    """Fail the stale running job `row` (id, attempt, heartbeat_at, lost_attempts, epoch, step) if no
    other worker or reaper changed it meanwhile; True when this call failed it."""
    failed = session.execute(
        update(Job)
        .where(Job.id == row.id, Job.status == "running", Job.attempt == row.attempt,
               Job.heartbeat_at == row.heartbeat_at)
        .values(status="failed", worker_name=None, finished_at=now, lost_attempts=row.lost_attempts + 1,
                error=lost_worker_error(row.lost_attempts + 1, row.epoch, row.step))
        .execution_options(synchronize_session=False)
    )
    return failed.rowcount == 1
