"""A 2x2 max pool after a Winograd convolution, done by the convolution (kernels/winograd_pool.py):
the same numbers as the two layers apart, ties and partial chunks included, and the memory the job
estimate plans for."""
import tracemalloc

import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.gradcheck import check_gradients
from shared.cnn.kernels import convolution, pieces
from shared.cnn.kernels.memory import FIXED_BYTES, layer_working_bytes
from shared.cnn.kernels.threads import engine_threads
from shared.cnn.layers.base import ForwardContext


def conv_pool(channels=4, size=8, after=({"type": "tanh"},), conv=None, pool=None):
    return {"input_shape": [channels, size, size], "layers": [
        {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": 1, **(conv or {})},
        {"type": "maxpool2d", "pool_size": 2, **(pool or {})}, *after]}


@pytest.fixture(autouse=True)
def winograd_for_few_channels(monkeypatch):
    monkeypatch.setattr(convolution, "WINOGRAD_MIN_CHANNELS", 1)


def fused_pair(net):
    conv = next(layer for layer in net.execution_order if layer.plan.type == "conv2d")
    pool = next(layer for layer in net.execution_order if layer.plan.type == "maxpool2d")
    return conv, pool


def run(definition, x, fused: bool, threads: int):
    net = build_network(definition, seed=3, dtype="float64")
    conv, pool = fused_pair(net)
    assert conv.kernel.pool and pool.passes_input
    if not fused:
        conv.kernel.pool = pool.passes_input = False
    with engine_threads(threads):
        results = []
        for _ in range(2):  # a second step runs on the kept buffers and prepared calls
            out = net.forward(x, training=True)
            grad = net.backward(np.cos(np.arange(out.size)).reshape(out.shape))
            results.append((out, grad, {name: value.copy() for name, value in net.grads.items()}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    return results[1]


def inputs(kind: str, batch: int) -> np.ndarray:
    x = np.random.default_rng(batch).standard_normal((batch, 4, 8, 8))
    if kind == "ties":
        x[::2] = 0  # every window of these images ties at the bias
    return x


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["distinct", "ties"])
@pytest.mark.parametrize("batch", [1, 7])
def test_the_fused_pool_gives_the_numbers_of_the_layers_apart(kind, batch, threads, monkeypatch):
    # a budget of 3 images a chunk (24 values per tile position, 6 channels, 5 pairs of columns,
    # float64): 7 images go in 3 chunks, the last one partial
    monkeypatch.setattr(pieces, "WINDOW_BUFFER_BYTES", 24 * 6 * 5 * 8 * 3)
    net = build_network(conv_pool(), dtype="float64")
    assert fused_pair(net)[0].kernel.chunks(batch, 8) == ((1, 1) if batch == 1 else (3, 3))
    x = inputs(kind, batch)
    (out, grad, grads), (expected_out, expected_grad, expected_grads) = (
        run(conv_pool(), x, fused, threads) for fused in (True, False))
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(grad, expected_grad)
    for name, value in expected_grads.items():
        # the bias gradient sums the pooled gradient instead of the map it was routed into
        np.testing.assert_allclose(grads[name], value, rtol=1e-13, atol=1e-15)


def test_ties_go_to_the_first_position_of_the_window():
    net = build_network(conv_pool(channels=1, size=4, after=()), seed=1, dtype="float64")
    net.params["conv2d_1.weight"][...] = 0
    net.params["conv2d_1.bias"][...] = 0.5  # every output 0.5: each window a four-way tie
    out = net.forward(np.ones((1, 1, 4, 4)), training=True)
    np.testing.assert_array_equal(out, 0.5)
    net.backward(np.ones_like(out))
    # one output in each of the 4 windows per filter carries the gradient
    np.testing.assert_array_equal(net.grads["conv2d_1.bias"], 4.0)
    # 3x3 "same" over ones: the first (top-left) output of a window sees 4, 6, 6 or 9 ones
    first_outputs_inputs = np.array([[4, 6], [6, 9]]).sum()
    np.testing.assert_allclose(net.grads["conv2d_1.weight"].sum(axis=(1, 2, 3)), first_outputs_inputs)


def test_a_relu_between_them_runs_after_the_pool_and_the_pool_is_still_fused():
    definition = conv_pool(after=({"type": "flatten"}, {"type": "dense", "units": 3}))
    definition["layers"].insert(1, {"type": "relu"})
    net = build_network(definition, dtype="float64")
    assert [layer.plan.type for layer in net.execution_order][:3] == ["conv2d", "maxpool2d", "relu"]
    conv, pool = fused_pair(net)
    assert conv.kernel.pool and pool.passes_input


@pytest.mark.parametrize("conv, pool, size", [
    ({"padding": 0}, None, 10),  # its gradient is not framed at (1, 1)
    (None, {"pool_size": 3}, 9),  # windows of three
    (None, {"stride": 1}, 8),  # overlapping windows
    (None, {"padding": 1}, 8),  # a padded pool
    (None, None, 7),  # an odd map: the last windows would take half tiles
    ({"kernel_size": 5, "padding": 2}, None, 8),  # not Winograd
])
def test_other_pools_and_convolutions_stay_apart(conv, pool, size):
    net = build_network(conv_pool(size=size, conv=conv, pool=pool), dtype="float64")
    conv_layer, pool_layer = fused_pair(net)
    assert not getattr(conv_layer.kernel, "pool", False)
    assert not pool_layer.passes_input


def test_fused_gradients_agree_with_finite_differences():
    net = build_network(conv_pool(channels=2, size=6), seed=4, dtype="float64")
    assert fused_pair(net)[0].kernel.pool
    x = np.random.default_rng(4).standard_normal((3, 2, 6, 6))
    errors = check_gradients(net, x, seed=4, training=True)
    assert max(errors.values()) <= 1, errors


@pytest.mark.parametrize("batch", [8, 64])
def test_the_pooling_convolutions_estimate_bounds_what_the_fused_pair_allocates(batch):
    net = build_network(conv_pool(channels=32, size=16, after=()), dtype="float32")
    conv, pool = fused_pair(net)
    x = np.random.default_rng(0).random((32, 16, 16, batch)).astype(np.float32)
    grad = np.ones((6, 8, 8, batch), np.float32)
    ctx = ForwardContext(training=True, sample_ids=np.arange(batch), seed=0)
    tracemalloc.start()
    try:
        for _ in range(2):
            pool.forward(conv.forward(x, ctx), ctx)
            conv.backward(pool.backward(grad.copy(), True), True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = layer_working_bytes(conv.plan, batch, 4, pooled=True)
    assert peak <= estimate <= 2 * peak + FIXED_BYTES
