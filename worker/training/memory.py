"""Refusing a job the worker cannot hold, before it allocates anything, with the job contract's estimate
(shared.jobs.memory, the same the API refuses jobs with at submission)."""
from __future__ import annotations

from shared.jobs.memory import job_memory, memory_limit, refusal
from worker.lifecycle.errors import JobFailed


def check_fits(definition: dict, kind: str, batch_size: int, configured_limit: int, workers: int = 1,
               scoring_batch_size: int | None = None) -> None:
    extra = {} if scoring_batch_size is None else {"scoring_batch_size": scoring_batch_size}
    estimate = job_memory(definition, kind, batch_size, workers, **extra)
    reason = refusal(estimate, memory_limit(configured_limit))
    if reason:
        raise JobFailed(reason)
