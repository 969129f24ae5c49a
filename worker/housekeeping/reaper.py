"""The reaper: jobs whose worker vanished (no heartbeat for longer than the lease) go back to the queue.

Celery with a Redis broker restores a SIGKILLed worker's unacked message only after the visibility
timeout (an hour by default). The reaper does not wait: it moves a stale `running` job back to `queued`
with a conditional UPDATE (same attempt, same old heartbeat, so a live worker's heartbeat wins) and
sends a new message. When the old message comes back later, the claim finds the job finished or owned
and the message is acked without effect. Every worker runs the reaper; the conditional UPDATE makes
concurrent reapers harmless.

It also deletes checkpoints left by jobs that ended without their worker's help (a job given back on
shutdown and then cancelled while queued never runs again to delete its own), and sends again the
message of a job that has been `queued` for longer than the lease with no message for it in the broker
(worker/housekeeping/lost_messages.py).
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy import select, update

from shared.db.models import FINAL_STATES, Job, utcnow
from shared.db.session import session_scope
from shared.jobs import TASK_BY_KIND, lease_expired
from shared.storage import ArtifactStore
from worker.housekeeping.lost_messages import resend_lost_messages
from worker.lifecycle.lost_attempts import fail_lost_job, gives_up
from worker.training.job_checkpoints import CHECKPOINTS_PREFIX, checkpoint_job_id

log = logging.getLogger(__name__)


def requeue_stale_jobs(database_url: str, lease_seconds: float, send: Callable[[str, int], None],
                       max_lost_attempts: int) -> list[int]:
    """Requeue every running job whose heartbeat is older than the lease; returns their ids. A job
    that has now lost its worker `max_lost_attempts` times is failed instead, with the reason."""
    now = utcnow()
    requeued = []
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Job.id, Job.kind, Job.attempt, Job.heartbeat_at, Job.lost_attempts, Job.epoch, Job.step)
            .where(Job.status == "running")
        ).all()
        for row in rows:
            if not lease_expired(row.heartbeat_at, now, lease_seconds):
                continue
            if gives_up(row.lost_attempts, max_lost_attempts):
                if fail_lost_job(session, row, now):
                    log.error("job %s failed: its worker died %s times", row.id, row.lost_attempts + 1)
                continue
            moved = session.execute(
                update(Job)
                .where(Job.id == row.id, Job.status == "running", Job.attempt == row.attempt,
                       Job.heartbeat_at == row.heartbeat_at)
                .values(status="queued", worker_name=None, lost_attempts=Job.lost_attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount == 1:
                requeued.append((row.id, row.kind))
    # Sent after the commit, so the message can never find the job still `running`.
    for job_id, kind in requeued:
        log.warning("job %s lost its worker (no heartbeat for %ss); queued again", job_id, lease_seconds)
        send(TASK_BY_KIND[kind], job_id)
    return [job_id for job_id, _ in requeued]


def sweep_checkpoints(database_url: str, store: ArtifactStore) -> list[int]:
    """Delete the checkpoints of jobs in a final state (or gone); returns their job ids."""
    keys: dict[int, list[str]] = {}
    for key in store.keys(CHECKPOINTS_PREFIX):
        job_id = checkpoint_job_id(key)
        if job_id is not None:
            keys.setdefault(job_id, []).append(key)
    if not keys:
        return []
    with session_scope(database_url) as session:
        alive = set(session.scalars(select(Job.id).where(Job.id.in_(keys), Job.status.not_in(FINAL_STATES))))
    ended = sorted(set(keys) - alive)
    for job_id in ended:
        store.delete(keys[job_id])
    return ended


def start_reaper(database_url: str, store: ArtifactStore, lease_seconds: float, send: Callable[[str, int], None],
                 stopping: threading.Event, max_lost_attempts: int,
                 broker_url: str | None = None) -> threading.Thread:
    """Check every half lease, in a daemon thread, until `stopping` is set. With `broker_url`, also send
    again the messages of jobs queued for longer than the lease whose message is not in the broker (one
    worker a pass reads the broker)."""
    interval = max(lease_seconds / 2, 1.0)

    def loop() -> None:
        while not stopping.wait(interval):
            try:
                requeue_stale_jobs(database_url, lease_seconds, send, max_lost_attempts)
                sweep_checkpoints(database_url, store)
                if broker_url is not None:
                    resend_lost_messages(database_url, broker_url, lease_seconds, send, turn_seconds=interval * 0.8)
            except Exception:  # a database outage must not kill the reaper
                log.exception("reaper pass failed; trying again later")

    thread = threading.Thread(target=loop, name="convforge-reaper", daemon=True)
    thread.start()
    return thread
