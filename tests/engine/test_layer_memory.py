"""A layer's working memory: bounded window buffers and a figure the worker can plan with."""
import tracemalloc

import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.kernels import pieces
from shared.cnn.kernels.memory import FIXED_BYTES, layer_forward_bytes, layer_working_bytes
from shared.cnn.layers.base import ForwardContext

LAYERS = [
    ([3, 16, 16], {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": 1}),
    ([3, 16, 16], {"type": "conv2d", "filters": 8, "kernel_size": 3, "stride": 2, "padding": 1}),
    ([8, 20, 20], {"type": "conv2d", "filters": 16, "kernel_size": 5, "padding": 2}),
    ([8, 20, 20], {"type": "conv2d", "filters": 8, "kernel_size": 3, "stride": 2, "dilation": 2}),
    ([32, 8, 8], {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": 1}),  # Winograd
    ([32, 9, 7], {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": [2, 0]}),  # Winograd, odd tiles
    ([4, 12, 12], {"type": "maxpool2d", "pool_size": 2}),
    ([4, 12, 12], {"type": "maxpool2d", "pool_size": 3, "stride": 2, "padding": 1}),
    ([4, 12, 12], {"type": "avgpool2d", "pool_size": 3, "stride": 1, "padding": 1}),
    ([4, 12, 12], {"type": "global_avgpool2d"}),
    ([4, 12, 12], {"type": "flatten"}),
    ([50], {"type": "dense", "units": 20}),
    ([4, 12, 12], {"type": "relu"}), ([4, 12, 12], {"type": "leaky_relu"}),
    ([4, 12, 12], {"type": "sigmoid"}), ([4, 12, 12], {"type": "tanh"}),
    ([4, 12, 12], {"type": "dropout", "rate": 0.3}),
    ([4, 12, 12], {"type": "batchnorm"}), ([50], {"type": "batchnorm"}),
]


def measured_peak(layer, batch: int, dtype: str) -> int:
    """Bytes allocated at the peak of two forward/backward passes of a fresh layer (the output
    gradient it is given excluded)."""
    x = np.random.default_rng(0).random((*layer.plan.input_shape, batch)).astype(dtype)
    grad = np.ones((*layer.plan.output_shape, batch), dtype)
    grads = [grad.copy(), grad.copy()]
    ctx = ForwardContext(training=True, sample_ids=np.arange(batch), seed=0)
    tracemalloc.start()
    try:
        for grad_out in grads:
            layer.forward(x, ctx)
            layer.backward(grad_out, True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [8, 64])
@pytest.mark.parametrize("input_shape, spec", LAYERS, ids=lambda v: v.get("type") if isinstance(v, dict) else "")
def test_working_bytes_bound_what_a_layer_allocates(input_shape, spec, batch, dtype):
    layer = build_network({"input_shape": input_shape, "layers": [spec]}, dtype=dtype).layers[0]
    peak = measured_peak(layer, batch, dtype)
    estimate = layer_working_bytes(layer.plan, batch, np.dtype(dtype).itemsize)
    assert peak <= estimate
    assert estimate <= 2 * peak + FIXED_BYTES


def measured_forward_peak(layer, batch: int, dtype: str) -> int:
    """Bytes allocated at the peak of two forward passes of a fresh layer outside training."""
    x = np.random.default_rng(0).random((*layer.plan.input_shape, batch)).astype(dtype)
    ctx = ForwardContext(training=False, sample_ids=np.arange(batch), seed=0)
    tracemalloc.start()
    try:
        for _ in range(2):
            layer.forward(x, ctx)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("batch", [8, 64, 512])
@pytest.mark.parametrize("input_shape, spec", LAYERS, ids=lambda v: v.get("type") if isinstance(v, dict) else "")
def test_forward_bytes_bound_what_a_layer_allocates_to_score(input_shape, spec, batch):
    layer = build_network({"input_shape": input_shape, "layers": [spec]}).layers[0]
    peak = measured_forward_peak(layer, batch, "float32")
    forward = layer_forward_bytes(layer.plan, batch, 4)
    assert peak <= forward <= layer_working_bytes(layer.plan, batch, 4)
    if spec["type"] == "conv2d":  # counted buffer by buffer
        assert forward <= 1.25 * peak + FIXED_BYTES


def test_convolution_window_buffers_stay_bounded_at_any_batch():
    # im2col of this layer at batch 512 would be 32*9 rows x 32*32*512 columns: 600 MB
    plan = build_network({"input_shape": [32, 32, 32], "layers": [
        {"type": "conv2d", "filters": 32, "kernel_size": 3, "padding": 1}]}).layers[0].plan
    small, large = layer_working_bytes(plan, 64, 4), layer_working_bytes(plan, 512, 4)
    activations = 4 * 32 * 32 * 32 * 512
    assert large - 8 * small < 8 * pieces.WINDOW_BUFFER_BYTES  # grows with the batch, not with windows
    assert large < 6 * activations


def test_convolution_peak_follows_the_budget(monkeypatch):
    monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", 64 * 2**10)
    layer = build_network({"input_shape": [16, 20, 20], "layers": [
        {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": 1}]}).layers[0]
    peak = measured_peak(layer, 32, "float32")
    assert peak <= layer_working_bytes(layer.plan, 32, 4)
    # input, output, framed gradient and input gradient: about four maps of 820 kB, no windows
    assert peak < 5 * 4 * 16 * 20 * 20 * 32
