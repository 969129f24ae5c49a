"""How much memory a job allocates, in every process it uses: the one number the API refuses a job
with at submission and the worker checks again before it allocates anything.

Per process that computes (the worker's, and each of the `workers - 1` shard processes'):
- what the process holds before the job (WORKER_BASELINE_BYTES, SHARD_BASELINE_BYTES, measured);
- parameters, their gradients, the batch's summed gradients and two optimizer slots;
- per image of one pass, every layer's working bytes (`layer_working_bytes`): layers keep their
  buffers between passes, so these add up over the layers rather than peak at one.
The parent also holds the batch (or the evaluation chunk) as float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.cnn import parse_definition, summarize
from shared.cnn.gradients import images_per_pass
from shared.cnn.layers.plan import BYTES_PER_VALUE, LayerPlan
from shared.jobs.params import DEFAULT_SCORING_BATCH_SIZE

# Resident before a job allocates anything (measured: about 85 MiB for the worker's process with Celery,
# SQLAlchemy and the engine loaded; about 45 MiB for a shard process, an interpreter with NumPy and the engine).
WORKER_BASELINE_BYTES = 112 * 1024**2
SHARD_BASELINE_BYTES = 64 * 1024**2
# Parameters, their gradients, the summed gradients and two optimizer slots (Adam's moments).
PARAMETER_COPIES = 5
# Samples prepared at once when a split is scored; each is then run `batch_size` images a pass.
SCORING_CHUNK_SAMPLES = 2048


CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")  # a container's limit (cgroup v2)


def memory_limit(configured: int) -> int:
    """WORKER_MEMORY_BYTES, or 80% of this machine's memory or of its container's limit if lower."""
    if configured:
        return configured
    available = psutil.virtual_memory().total
    try:
        available = min(available, int(CGROUP_MEMORY_MAX.read_text()))
    except (OSError, ValueError):  # no cgroup v2, or "max"
        pass
    return int(available * 0.8)


def refusal(estimate: "MemoryEstimate", limit: int) -> str | None:
    """Why a job with this estimate cannot run under `limit`, in words a person can act on; None if it fits."""
    if estimate.total_bytes <= limit:
        return None
    return (f"the job needs {estimate.describe()} but a worker may use {_size(limit)} (WORKER_MEMORY_BYTES); "
            "use a smaller batch_size, fewer workers or a smaller network")


@dataclass(frozen=True)
class MemoryEstimate:
    total_bytes: int
    processes: int
    per_process_bytes: int  # the largest process's share

    def describe(self) -> str:
        return (f"about {_size(self.total_bytes)} in {self.processes} process"
                f"{'es' if self.processes > 1 else ''} (up to {_size(self.per_process_bytes)} each)")


def layer_working_bytes(plan: LayerPlan, training: bool, first: bool) -> int:
    """Bytes per image a layer holds for one pass: its output, its window buffer (`scratch`) and padded
    input, and in training the same again for the gradients (none for the input of the first layer)."""
    scratch = plan.spec.scratch(plan)
    window_bytes = scratch[0] if scratch else 0
    padded_input = _padded_input_bytes(plan)
    forward = plan.activation_bytes + window_bytes + padded_input
    if not training:
        return forward
    backward = plan.activation_bytes + (0 if first else window_bytes + padded_input)
    return forward + backward


def job_memory(definition: dict, kind: str, batch_size: int, workers: int = 1,
               scoring_batch_size: int = DEFAULT_SCORING_BATCH_SIZE) -> MemoryEstimate:
    top = summarize(parse_definition(definition)).plans
    params = sum(plan.params for plan in top) * BYTES_PER_VALUE
    plans = _working_plans(top)
    input_bytes = math.prod(plans[0].input_shape) * BYTES_PER_VALUE
    types = [plan.type for plan in plans]

    def per_image(training: bool) -> list[int]:
        return [layer_working_bytes(plan, training, index == 0) for index, plan in enumerate(plans)]

    if kind == "evaluate":
        images = min(batch_size, SCORING_CHUNK_SAMPLES)
        working = images * sum(per_image(False))
        held = min(batch_size, SCORING_CHUNK_SAMPLES) * input_bytes * 2
        parent = WORKER_BASELINE_BYTES + params * 2 + working + held
        return MemoryEstimate(parent, 1, parent)
    workers = max(1, min(workers, batch_size))
    shard = math.ceil(batch_size / workers)
    train_images = images_per_pass(types, shard)
    scoring_images = min(scoring_batch_size, SCORING_CHUNK_SAMPLES)
    # A train job also scores its splits, with passes of another size. A layer allocates its buffers for
    # those before it lets go of its training ones; the layers before it have switched, those after not yet.
    trained = [train_images * size for size in per_image(True)]
    scored = [scoring_images * size for size in per_image(False)]
    working = max(sum(scored[:at + 1]) + sum(trained[at:]) for at in range(len(plans)))
    shard_process = SHARD_BASELINE_BYTES + params * PARAMETER_COPIES + train_images * sum(per_image(True)) \
        + shard * input_bytes
    held = (batch_size + scoring_images) * input_bytes * 2  # the batch, and a scoring chunk, as float32
    parent = WORKER_BASELINE_BYTES + params * (PARAMETER_COPIES + workers) + working + held
    total = parent + (workers - 1) * shard_process
    return MemoryEstimate(total, workers, max(parent, shard_process))


def _padded_input_bytes(plan: LayerPlan) -> int:
    if plan.window is None or len(plan.input_shape) != 3 or not any(plan.window.padding):
        return 0
    channels, height, width = plan.input_shape
    top, bottom, left, right = plan.window.padding
    return channels * (height + top + bottom) * (width + left + right) * BYTES_PER_VALUE


def _working_plans(plans) -> list[LayerPlan]:
    """Every layer that holds buffers, in execution order: a block's layers, then the block (its sum)."""
    found = []
    for plan in plans:
        found.extend([*_working_plans(plan.children), plan] if plan.children else [plan])
    return found


def _size(n_bytes: int) -> str:
    if n_bytes >= 1024**3:
        return f"{n_bytes / 1024**3:.2f} GiB"
    return f"{n_bytes / 1024**2:.0f} MiB" if n_bytes >= 1024**2 else f"{n_bytes / 1024:.1f} KiB"
