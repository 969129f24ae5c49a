"""The gradient of a batch: one kernel for the Trainer, the worker's shard processes and the
worker's memory estimate.

A batch, or one process's shard of it, runs forward and backward in passes that bound the memory
a step takes whatever the batch: ``MICRO_BATCH`` images, or more while the pass's working memory
stays under ``PASS_BYTES`` (``images_per_pass``). Each pass's loss gradient is scaled
by its share of the whole batch, so the passes' gradients, and the shards', simply add up to the
gradient of the whole batch's mean loss. Batchnorm is the exception: its statistics must see
every image of a shard together, so a network with it runs each shard in one pass.

The Trainer takes its gradients from a gradient engine (``GradientEngine``): ``InProcessGradients``
by default; the worker's data-parallel engine runs ``shard_gradient`` in several processes.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .kernels.memory import layer_working_bytes
from .layers.plan import walk
from .losses import mean_squared_error, softmax_cross_entropy

LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}

# A forward/backward pass holds MICRO_BATCH images, or more while its layers' working memory stays
# under PASS_BYTES: every pass pays NumPy's overhead on each of its calls, which small maps spread
# over few values (LeNet-5 at 512 images, 2 threads: passes of 256 and 512 images 1.22x and 1.27x
# faster than passes of 128; it takes about 0.2 MiB an image, the colour 3x32x32 network 2.7).
MICRO_BATCH = 128
PASS_BYTES = 128 * 2**20

# Layer types that normalise with the statistics of the images they see together.
BATCH_STATISTICS_LAYERS = frozenset({"batchnorm"})

BatchGradient = tuple[float, int, dict[str, np.ndarray]]


class GradientEngine(Protocol):
    """What ``Trainer(gradients=...)`` takes. ``engine(x, y, first_sample_id)`` returns
    (mean loss, correct predictions, gradients of the mean loss); ``first_sample_id`` is the
    global index of ``x[0]`` in the stream of training samples (dropout masks follow it).
    Engines are context managers: leaving one frees whatever it started."""

    loss: Loss

    def __call__(self, x: np.ndarray, y: np.ndarray, first_sample_id: int) -> BatchGradient: ...

    def __enter__(self) -> "GradientEngine": ...

    def __exit__(self, *exc_info) -> None: ...


# A loss is named ("cross_entropy") or given with its options ({"type": "cross_entropy",
# "label_smoothing": 0.1}); these are the options each loss takes, with their allowed ranges.
LOSS_OPTIONS = {"cross_entropy": {"label_smoothing": (0.0, 1.0)}, "mse": {}}
Loss = str | dict


def check_loss(loss: Loss) -> Loss:
    name, options = _loss_parts(loss)
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, not {name!r}")
    for key, value in options.items():
        if key not in LOSS_OPTIONS[name]:
            raise ValueError(f"the {name!r} loss has no option {key!r}; it takes {sorted(LOSS_OPTIONS[name])}")
        low, high = LOSS_OPTIONS[name][key]
        if not isinstance(value, (int, float)) or not low <= value < high:
            raise ValueError(f"loss option {key} must be a number in [{low:g}, {high:g}), not {value!r}")
    return loss


def _loss_parts(loss: Loss) -> tuple[str, dict]:
    if isinstance(loss, dict):
        options = dict(loss)
        return options.pop("type", None), options
    return loss, {}


def bytes_per_image(plans) -> int | None:
    """A training pass's working memory per image, from a network's plans (``Network`` keeps it as
    ``pass_bytes_per_image``), or None when a layer must see the whole shard at once (batchnorm)."""
    leaves = list(walk(plans))
    if BATCH_STATISTICS_LAYERS.intersection(plan.type for plan in leaves):
        return None
    layers = [plan for plan in leaves if not plan.children and plan.type != "identity"]  # blocks hold theirs
    return max(1, sum(layer_working_bytes(plan, MICRO_BATCH) for plan in layers) // MICRO_BATCH)


def images_per_pass(per_image: int | None, images: int) -> int:
    """How many of ``images`` (a batch or a shard) one forward/backward pass holds, for a network
    that takes ``per_image`` bytes an image (see ``bytes_per_image``)."""
    if per_image is None:
        return images
    return min(images, max(MICRO_BATCH, PASS_BYTES // per_image))


def loss_and_gradient(loss: Loss, output: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean loss, its gradient with respect to ``output``); with "mse", integer labels are one-hot."""
    y = np.asarray(y)
    name, options = _loss_parts(loss)
    if name == "mse" and y.ndim == 1 and output.ndim == 2 and np.issubdtype(y.dtype, np.integer):
        y = np.eye(output.shape[1], dtype=output.dtype)[y]
    return LOSSES[name](output, y, **options)


def count_correct(output: np.ndarray, y: np.ndarray) -> int:
    y = np.asarray(y)
    if output.ndim != 2 or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return 0
    return int(np.count_nonzero(output.argmax(axis=1) == y))


def shard_gradient(net, x: np.ndarray, y: np.ndarray, first_sample_id: int, batch_size: int,
                   out: dict[str, np.ndarray], loss: Loss = "cross_entropy") -> tuple[float, int]:
    """Write into ``out`` (arrays shaped like ``net.grads``) the gradient of the mean loss of a
    batch of ``batch_size`` images, restricted to its images ``x`` (the batch's images from
    ``first_sample_id`` on); return (the loss summed over ``x``, correct predictions)."""
    count = len(y)
    size = images_per_pass(net.pass_bytes_per_image, count)
    loss_sum, correct = 0.0, 0
    for start in range(0, count, size):
        stop = min(start + size, count)
        ids = np.arange(first_sample_id + start, first_sample_id + stop)
        output = net.forward(x[start:stop], training=True, sample_ids=ids)
        loss_mean, grad = loss_and_gradient(loss, output, y[start:stop])
        if stop - start != batch_size:
            grad *= grad.dtype.type((stop - start) / batch_size)
        net.backward(grad, need_input_grad=False)
        for name, value in net.grads.items():
            if start == 0:
                np.copyto(out[name], value)
            else:
                out[name] += value
        loss_sum += loss_mean * (stop - start)
        correct += count_correct(output, y[start:stop])
    return loss_sum, correct


class InProcessGradients:
    """The default engine: the whole batch in this process, on ``net`` itself."""

    def __init__(self, net, loss: Loss = "cross_entropy"):
        self.net = net
        self.loss = check_loss(loss)
        self.grads = {name: np.zeros_like(grad) for name, grad in net.grads.items()}

    def __call__(self, x: np.ndarray, y: np.ndarray, first_sample_id: int) -> BatchGradient:
        y = np.asarray(y)
        loss_sum, correct = shard_gradient(self.net, x, y, first_sample_id, len(y), self.grads, self.loss)
        return loss_sum / len(y), correct, self.grads

    def __enter__(self) -> "InProcessGradients":
        return self

    def __exit__(self, *exc_info) -> None:
        pass
