"""A training job's checkpoints in the artifact store, so a worker on any machine can resume the job.

Each checkpoint is a new object, `checkpoints/job-<id>/attempt-<a>-step-<s>.npz`, uploaded whole and
only then recorded in the job row (jobs.checkpoint_path), in an update fenced by the claim. The row thus
always names a complete checkpoint, and a worker that lost its lease cannot record one. The previous
object is deleted after the new one is recorded; whatever a vanished worker left under the job's
prefix goes when the job ends (here, or by the reaper's sweep).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from shared.storage import ArtifactStore
from shared.storage.files import fetched, scratch_file
from worker.training.checkpoint import load_checkpoint, save_checkpoint
from worker.lifecycle.lease import JobLease

log = logging.getLogger(__name__)

CHECKPOINTS_PREFIX = "checkpoints/"
_JOB_OF_KEY = re.compile(r"^checkpoints/job-(\d+)(?:/|\.npz$)")


def checkpoint_prefix(job_id: int) -> str:
    return f"{CHECKPOINTS_PREFIX}job-{job_id}/"


def checkpoint_job_id(key: str) -> int | None:
    match = _JOB_OF_KEY.match(key)
    return int(match[1]) if match else None


class JobCheckpoints:
    def __init__(self, store: ArtifactStore, lease: JobLease, latest: str | None, scratch: Path):
        self.store = store
        self.lease = lease
        self.latest = latest  # the key the job row records
        self.scratch = scratch

    def load(self) -> dict | None:
        """The state of the latest recorded checkpoint, or None when the job has none."""
        if self.latest is None:
            return None
        log.info("job %s resumes from checkpoint %s", self.lease.job_id, self.latest)
        with fetched(self.store, self.latest, self.scratch) as path:
            return load_checkpoint(path)

    def save(self, state: dict) -> None:
        step = int(state["position"]["global_step"])
        key = f"{checkpoint_prefix(self.lease.job_id)}attempt-{self.lease.claim.attempt}-step-{step:09d}.npz"
        with scratch_file(self.scratch, "checkpoint.npz") as path:
            save_checkpoint(path, state)
            self.store.put_file(key, path)
        self.lease.sync(checkpoint_path=key)  # recorded once complete; raises LeaseLost if no longer ours
        previous, self.latest = self.latest, key
        if previous is not None and previous != key:
            self.store.discard([previous])

    def remove(self) -> None:
        """Delete every checkpoint of the job (it ended). A store that is down leaves them to the reaper."""
        try:
            self.store.delete_prefix(checkpoint_prefix(self.lease.job_id))
        except Exception as exc:
            log.warning("checkpoints of job %s not removed yet (%s); the reaper will", self.lease.job_id, exc)
