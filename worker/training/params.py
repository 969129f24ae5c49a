"""A training job's parameters, with defaults, checked again here because a row can be written by
anything that reaches the database; errors name the parameter and the value."""
from __future__ import annotations

import os
from dataclasses import dataclass

from worker.lifecycle.errors import JobFailed

DEFAULT_OPTIMIZER = {"type": "sgd", "lr": 0.05, "momentum": 0.9}
# Enough points for a readable loss curve, few enough to keep the metrics table small.
TRAIN_LOGS_PER_EPOCH = 20
# Smaller shards than this ran no faster on two processes than one process on the whole batch.
MIN_IMAGES_PER_SHARD = 64


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int
    seed: int
    validation_split: float
    optimizer: dict
    schedule: dict | None
    augment: dict | None
    workers: int
    checkpoint_every_steps: int
    log_every_steps: int | None  # None: TRAIN_LOGS_PER_EPOCH points per epoch

    def log_interval(self, steps_per_epoch: int) -> int:
        return self.log_every_steps or max(1, steps_per_epoch // TRAIN_LOGS_PER_EPOCH)


def _whole(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise JobFailed(f"parameter {name}={value!r} must be a whole number from {low} to {high}")
    return value


def parse_train_params(params: dict | None) -> TrainParams:
    params = params or {}
    split = params.get("validation_split", 0.1)
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split < 1:
        raise JobFailed(f"parameter validation_split={split!r} must be a number in [0, 1)")
    optimizer = params.get("optimizer") or DEFAULT_OPTIMIZER
    if not isinstance(optimizer, dict):
        raise JobFailed(f"parameter optimizer={optimizer!r} must be an object like {DEFAULT_OPTIMIZER}")
    log_every = params.get("log_every_steps")
    batch_size = _whole(params, "batch_size", 64, 1, 65_536)
    return TrainParams(
        epochs=_whole(params, "epochs", 1, 1, 10_000),
        batch_size=batch_size,
        seed=_whole(params, "seed", 0, 0, 2**32 - 1),
        validation_split=float(split),
        optimizer=optimizer,
        schedule=params.get("schedule"),
        augment=params.get("augment") or None,
        workers=_whole(params, "workers", default_workers(batch_size), 1, 256),
        checkpoint_every_steps=_whole(params, "checkpoint_every_steps", 500, 1, 10**9),
        log_every_steps=None if log_every is None else _whole(params, "log_every_steps", 1, 1, 10**9),
    )


def parse_evaluate_batch_size(params: dict | None) -> int:
    """An evaluate job's images per forward pass (the API's default: 256)."""
    return _whole(params or {}, "batch_size", 256, 1, 65_536)


def worker_cores() -> int:
    """The cores this worker process may run on (its CPU affinity)."""
    return len(os.sched_getaffinity(0))


def default_workers(batch_size: int) -> int:
    """A job that does not say: every core this worker may use, but no shard under MIN_IMAGES_PER_SHARD."""
    return max(1, min(worker_cores(), batch_size // MIN_IMAGES_PER_SHARD))
