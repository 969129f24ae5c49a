"""Refusing a training job the worker cannot hold, before it allocates anything.

The estimate, from the network's summary alone: activations of one forward pass kept for backward,
their gradients and the engine's scratch buffers (about 3x the activations of the images in one pass),
plus parameters, the last pass's gradients, the batch's summed gradients and up to two optimizer slots
per parameter (5x the parameters).
The images in one pass follow the engine's own rule, `images_per_pass`.
"""
from __future__ import annotations

from pathlib import Path

import psutil

from shared.cnn.gradients import images_per_pass
from worker.lifecycle.errors import JobFailed

BYTES_PER_VALUE = 4
ACTIVATION_FACTOR = 3
PARAMETER_FACTOR = 5


CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")  # a container's limit (cgroup v2)


def memory_limit(configured: int) -> int:
    """WORKER_MEMORY_BYTES, or 80% of the machine's memory or of the container's limit if lower."""
    if configured:
        return configured
    available = psutil.virtual_memory().total
    try:
        available = min(available, int(CGROUP_MEMORY_MAX.read_text()))
    except (OSError, ValueError):  # no cgroup v2, or "max"
        pass
    return int(available * 0.8)


def training_bytes(summary: dict, batch_size: int) -> int:
    images = images_per_pass(_layer_types(summary["layers"]), batch_size)
    activations = summary["activation_bytes"] * images * ACTIVATION_FACTOR
    return activations + summary["total_params"] * BYTES_PER_VALUE * PARAMETER_FACTOR


def _layer_types(rows: list[dict]):
    """Every layer's type, those held by blocks included."""
    for row in rows:
        yield row["type"]
        yield from _layer_types(row.get("layers", []))


def check_fits(summary: dict, batch_size: int, configured_limit: int) -> None:
    needed, limit = training_bytes(summary, batch_size), memory_limit(configured_limit)
    if needed > limit:
        raise JobFailed(f"the job needs about {_gib(needed)} of memory (network {summary['name']}, batch_size "
                        f"{batch_size}) but a worker may use {_gib(limit)} (WORKER_MEMORY_BYTES); "
                        f"use a smaller batch_size or a smaller network")


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 1024**3:.2f} GiB" if n_bytes >= 1024**2 else f"{n_bytes / 1024**2:.3f} MiB"
