"""How much memory a job allocates, in every process it uses: the one number the API refuses a job
with at submission and the worker checks again before it allocates anything.

Per process that computes (the worker's, and each of the `workers - 1` shard processes'):
- what the process holds before the job (WORKER_BASELINE_BYTES, SHARD_BASELINE_BYTES, measured);
- parameters, their gradients, the batch's summed gradients and two optimizer slots;
- for one pass, every layer's working bytes as the engine counts them (`shared.cnn.kernels.memory`:
  a forward and backward with the layer's output and input gradient when training, a forward alone
  when scoring or evaluating): layers keep their workspaces and the activations backward needs
  between passes, so these add up over the layers (a residual block's children included) rather
  than peak at one.
The parent also holds the batch (or the evaluation chunk) as float32, and a train job scores its
splits in the parent while its shard processes keep their training buffers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.cnn import parse_definition, summarize
from shared.cnn.gradients import bytes_per_image, images_per_pass
from shared.cnn.kernels.memory import layer_forward_bytes, layer_working_bytes, pooling_convolutions
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


def block_working_bytes(plan: LayerPlan, images: int, training: bool, pooled: bool = False) -> int:
    """What a layer holds for one pass of `images`: the engine's figure for a layer (forward and backward
    in training, forward alone otherwise; `pooled`, a convolution that does the max pool after it); for a
    block (a residual block, a projection shortcut) its children's, and a residual block's own sum, and in
    training the gradient it hands to both branches and their total. An identity shortcut is its input and
    holds nothing."""
    if plan.type == "identity":
        return 0
    if not plan.children:
        figure = layer_working_bytes if training else layer_forward_bytes
        return figure(plan, images, BYTES_PER_VALUE, pooled)
    own = (3 if training else 1) * math.prod(plan.output_shape) * images * BYTES_PER_VALUE
    return (own if plan.type == "residual" else 0) + sum(
        block_working_bytes(child, images, training) for child in plan.children)


def job_memory(definition: dict, kind: str, batch_size: int, workers: int = 1,
               scoring_batch_size: int = DEFAULT_SCORING_BATCH_SIZE) -> MemoryEstimate:
    top = summarize(parse_definition(definition)).plans
    params = sum(plan.params for plan in top) * BYTES_PER_VALUE
    input_bytes = math.prod(top[0].input_shape) * BYTES_PER_VALUE

    pools = pooling_convolutions(top)  # those pools pass their input on and allocate nothing

    def per_layer(images: int, training: bool) -> list[int]:
        return [0 if at in pools.values() else block_working_bytes(plan, images, training, at in pools)
                for at, plan in enumerate(top)]

    if kind == "evaluate":
        images = min(batch_size, SCORING_CHUNK_SAMPLES)
        working = sum(per_layer(images, training=False))
        held = min(batch_size, SCORING_CHUNK_SAMPLES) * input_bytes * 2
        parent = WORKER_BASELINE_BYTES + params * 2 + working + held
        return MemoryEstimate(parent, 1, parent)
    workers = max(1, min(workers, batch_size))
    shard = math.ceil(batch_size / workers)
    train_images = images_per_pass(bytes_per_image(top), shard)
    scoring_images = min(scoring_batch_size, SCORING_CHUNK_SAMPLES)
    # A train job also scores its splits, with passes of another size. A layer allocates its buffers for
    # those before it lets go of its training ones; the layers before it have switched, those after not yet.
    trained, scored = per_layer(train_images, True), per_layer(scoring_images, False)
    working = max(sum(scored[:at + 1]) + sum(trained[at:]) for at in range(len(top)))
    shard_process = SHARD_BASELINE_BYTES + params * PARAMETER_COPIES + sum(trained) \
        + shard * input_bytes
    held = (batch_size + scoring_images) * input_bytes * 2  # the batch, and a scoring chunk, as float32
    parent = WORKER_BASELINE_BYTES + params * (PARAMETER_COPIES + workers) + working + held
    total = parent + (workers - 1) * shard_process
    return MemoryEstimate(total, workers, max(parent, shard_process))


def _size(n_bytes: int) -> str:
    if n_bytes >= 1024**3:
        return f"{n_bytes / 1024**3:.2f} GiB"
    return f"{n_bytes / 1024**2:.0f} MiB" if n_bytes >= 1024**2 else f"{n_bytes / 1024:.1f} KiB"
