"""A job's parameters as the worker runs them: the row parsed with the job contract's models
(shared.jobs), a bad value turned into a failed job that names it, and what the row leaves to the
worker (the number of processes) decided here."""
from __future__ import annotations

import os

from pydantic import BaseModel, ValidationError

from shared.jobs import EvaluateParams, TrainParams
from worker.lifecycle.errors import JobFailed

# Smaller shards than this ran no faster on two processes than one process on the whole batch.
MIN_IMAGES_PER_SHARD = 64


def parse_train_params(params: dict | None) -> TrainParams:
    """The stored parameters (an older row may lack fields: their defaults apply), with `workers` decided."""
    parsed = _parse(TrainParams, params)
    if parsed.workers is None:
        parsed = parsed.model_copy(update={"workers": default_workers(parsed.batch_size)})
    return parsed


def parse_evaluate_params(params: dict | None) -> EvaluateParams:
    return _parse(EvaluateParams, params)


def _parse(model: type[BaseModel], params: dict | None):
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise JobFailed(f"parameter {where}={error.get('input')!r}: {error['msg']}") from None


def worker_cores() -> int:
    """The cores this worker process may run on (its CPU affinity)."""
    return len(os.sched_getaffinity(0))


def default_workers(batch_size: int) -> int:
    """A job that does not say: every core this worker may use, but no shard under MIN_IMAGES_PER_SHARD."""
    return max(1, min(worker_cores(), batch_size // MIN_IMAGES_PER_SHARD))
