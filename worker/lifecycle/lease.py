"""Writes made while a job runs, each fenced by the claim: they apply only while this attempt still
owns the job (`status='running'` and the same `attempt`). A worker whose lease was taken over, or whose
job was finished elsewhere, gets `LeaseLost` and stops without writing anything more.

The training loop's progress writes are heartbeats; `kept_alive` adds a thread that beats as well, so
that a single step longer than the lease (a big network, a big batch) does not look like a dead worker.
The lease thus ends when the worker process dies, not when one step is slow.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db.models import Job, Metric, utcnow
from shared.db.session import session_scope
from worker.lifecycle.claim import Claim
from worker.lifecycle.db_retry import with_retry
from worker.lifecycle.errors import JobCancelled

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This attempt no longer owns the job."""


@dataclass
class JobLease:
    database_url: str
    claim: Claim

    @property
    def job_id(self) -> int:
        return self.claim.job_id

    def _fenced_update(self, session: Session, **values: Any) -> None:
        result = session.execute(
            update(Job)
            .where(Job.id == self.job_id, Job.status == "running", Job.attempt == self.claim.attempt)
            .values(heartbeat_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"job {self.job_id} attempt {self.claim.attempt} lost its lease")

    def _transaction(self, what: str, body) -> Any:
        def attempt():
            with session_scope(self.database_url) as session:
                return body(session)

        return with_retry(attempt, f"{what} for job {self.job_id}")

    def sync(self, **progress: Any) -> bool:
        """Heartbeat plus progress fields; returns whether a cancel was requested."""

        def body(session: Session) -> bool:
            self._fenced_update(session, **progress)
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))

        return self._transaction("saving progress", body)

    @contextmanager
    def kept_alive(self, interval_seconds: float) -> Iterator[None]:
        stopping = threading.Event()

        def beat() -> None:
            while not stopping.wait(interval_seconds):
                try:
                    self._transaction("sending a heartbeat", lambda session: self._fenced_update(session))
                except LeaseLost:
                    return  # the loop's next write finds out too, and stops
                except Exception:  # an unreachable database: the loop's own writes retry and report
                    log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)

        thread = threading.Thread(target=beat, name=f"heartbeat-job-{self.job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stopping.set()
            thread.join()

    def check_in(self, **progress: Any) -> None:
        """`sync`, raising JobCancelled when a cancel was requested."""
        if self.sync(**progress):
            raise JobCancelled()

    def record(self, metrics: list[dict], **progress: Any) -> bool:
        """Metric rows and the job's progress, in one transaction; returns whether a cancel was requested."""

        def body(session: Session) -> bool:
            self._fenced_update(session, **progress)
            if metrics:
                session.execute(insert(Metric), [{"job_id": self.job_id, **row} for row in metrics])
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))

        return self._transaction("saving metrics", body)

    def discard_metrics_after(self, seq: int) -> None:
        """Drop rows a vanished attempt logged after its last checkpoint; the resumed run logs them again."""

        def body(session: Session) -> None:
            self._fenced_update(session)
            session.execute(delete(Metric).where(Metric.job_id == self.job_id, Metric.seq > seq))

        self._transaction("discarding metrics logged after the checkpoint", body)

    def finish(self, status: str, add_rows=None, **fields: Any) -> None:
        """Move to a final state (or back to `queued`); `add_rows(session)` may insert rows first and
        return extra fields (the model id) for the job row."""

        def body(session: Session) -> None:
            extra = add_rows(session) if add_rows else {}
            final = {} if status == "queued" else {"finished_at": utcnow()}
            self._fenced_update(session, status=status, **final, **fields, **(extra or {}))

        self._transaction(f"marking the job {status}", body)


def heartbeat_seconds(settings: Settings) -> float:
    """A few beats per lease, so one late beat never expires it."""
    return max(settings.job_lease_seconds / 4, 0.5)
