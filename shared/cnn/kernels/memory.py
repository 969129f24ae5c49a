"""The most memory a layer's forward and backward (or its forward alone) allocate for a batch,
from its plan alone.

Convolutions count their buffers exactly (their window buffers stay under
``WINDOW_BUFFER_BYTES`` whatever the batch); the other layers are counted as multiples of their
input and output sizes that cover their arrays and NumPy's temporaries, as measured with
tracemalloc (tests/engine/test_layer_memory.py checks every layer type stays under its figures).
"""
from __future__ import annotations

import math

from ..layers.pooling import SHORT_RUN_BYTES
from .convolution import convolution_for
from .winograd import WinogradConvolution

# Small arrays any layer may allocate whatever the batch (weight reshapes, reductions).
FIXED_BYTES = 64 * 2**10

# values allocated per value of the (padded) input and per value of the output
_PER_VALUE = {
    "maxpool2d": (2, 6), "avgpool2d": (2, 1.25), "global_avgpool2d": (1, 16), "flatten": (0, 0),
    "dense": (1, 2.5), "relu": (0, 1.5), "leaky_relu": (0, 3.5), "sigmoid": (0, 4.25), "tanh": (0, 3.25),
    "batchnorm": (0, 4.5),
}
# the same for a forward pass alone, as when a network scores or evaluates; there a pooling layer
# copies its input only to pad it (or, max pooling over short runs of images, to keep its windows'
# row maxima, see MaxPool2D), and dropout passes its input on
_FORWARD_PER_VALUE = {
    "maxpool2d": (1, 1.25), "avgpool2d": (1, 1.25), "global_avgpool2d": (0, 8), "flatten": (0, 0),
    "dense": (0, 2.5), "relu": (0, 1.25), "leaky_relu": (0, 2.5), "sigmoid": (0, 3.25), "tanh": (0, 2.25),
    "batchnorm": (0, 3.25), "dropout": (0, 0),
}
# dropout hashes each element in uint64 temporaries, whatever the dtype
_DROPOUT_BYTES_PER_VALUE = 16


def pooling_convolutions(plans) -> dict[int, int]:
    """The convolutions among a network's top-level ``plans`` that do the max pool after them, by
    position, and that pool's position (``Network`` fuses them; a ReLU between them runs after the
    pool). The pool then allocates nothing, and the convolution counts what pooling adds."""
    fused = {}
    for at, plan in enumerate(plans):
        pool_at = at + 2 if at + 1 < len(plans) and plans[at + 1].type == "relu" else at + 1
        if (plan.type == "conv2d" and pool_at < len(plans) and plans[pool_at].type == "maxpool2d"
                and _can_pool(convolution_for(plan), plans[pool_at].window)):
            fused[at] = pool_at
    return fused


def _can_pool(kernel, window) -> bool:
    return isinstance(kernel, WinogradConvolution) and kernel.can_pool(window)


def layer_working_bytes(plan, batch: int, itemsize: int = 4, pooled: bool = False) -> int:
    """Peak bytes a layer of this plan allocates for one forward and backward of ``batch``
    images: its output and input gradient included, its parameters and their gradients not;
    ``pooled``: a convolution that does the max pool after it."""
    if plan.type == "conv2d":
        # its buffers exactly, plus NumPy's transient copies (measured under 5%)
        kernel = convolution_for(plan)
        pooling = kernel.pooling_bytes(batch, itemsize, training=True) if pooled else 0
        return (kernel.working_bytes(batch, itemsize) + pooling) * 17 // 16 + FIXED_BYTES
    if plan.type == "dropout":
        return (_DROPOUT_BYTES_PER_VALUE + 2 * itemsize) * math.prod(plan.output_shape) * batch + FIXED_BYTES
    return _by_value(plan, batch, itemsize, _PER_VALUE[plan.type])


def layer_forward_bytes(plan, batch: int, itemsize: int = 4, pooled: bool = False) -> int:
    """Peak bytes a layer of this plan allocates for one forward pass of ``batch`` images outside
    training (scoring, evaluation): its output included, its parameters not."""
    if plan.type == "conv2d":
        kernel = convolution_for(plan)
        pooling = kernel.pooling_bytes(batch, itemsize, training=False) if pooled else 0
        return (kernel.forward_bytes(batch, itemsize) + pooling) * 17 // 16 + FIXED_BYTES
    padded = plan.window is not None and any(plan.window.padding)
    row_maxima = plan.type == "maxpool2d" and batch * itemsize <= SHORT_RUN_BYTES
    return _by_value(plan, batch, itemsize, _FORWARD_PER_VALUE[plan.type], inputs_copied=padded or row_maxima)


def _by_value(plan, batch: int, itemsize: int, per_value: tuple[float, float], inputs_copied: bool = True) -> int:
    outputs = math.prod(plan.output_shape) * batch
    inputs = math.prod(plan.input_shape) * batch if inputs_copied else 0
    if plan.window is not None and inputs_copied:
        top, bottom, left, right = plan.window.padding
        channels, height, width = plan.input_shape
        inputs = channels * (height + top + bottom) * (width + left + right) * batch
    per_input, per_output = per_value
    return math.ceil((per_input * inputs + per_output * outputs) * itemsize) + FIXED_BYTES
