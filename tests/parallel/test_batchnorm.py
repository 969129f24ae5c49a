"""Batchnorm under data parallelism normalises each shard with the shard's own statistics.

Documented behaviour: the gradient is the size-weighted sum of the shards' gradients (so it depends
on the number of workers), the running mean is the exact full-batch update, and the running
variance is the size-weighted average of the shards' updates.
"""
from __future__ import annotations

import numpy as np

from shared.cnn import build_network
from shared.cnn.gradients import InProcessGradients
from tests.engine.residual_networks import random_residual_network
from tests.parallel.conftest import SMALL_CONV, random_batch, with_layer
from worker.training.parallel import DataParallel, shard_bounds

WITH_BATCHNORM = with_layer(SMALL_CONV, 1, {"type": "batchnorm"})

def single_process(x, y, offset=0):
    net = build_network(WITH_BATCHNORM, seed=5, dtype="float64")
    grads = InProcessGradients(net)(x, y, offset)[2]
    return {name: grad.copy() for name, grad in grads.items()}, net.buffers


def test_per_shard_statistics():
    x, y = random_batch(WITH_BATCHNORM, 21, seed=4)
    x[:7] += 3.0  # shards with different means make per-shard and whole-batch statistics differ
    bounds = shard_bounds(len(y), 3)
    expected_grads, expected_buffers = {}, {}
    for start, stop in bounds:
        weight = (stop - start) / len(y)
        grads, buffers = single_process(x[start:stop], y[start:stop], start)
        for name, grad in grads.items():
            expected_grads[name] = expected_grads.get(name, 0) + weight * grad
        for name, buffer in buffers.items():
            expected_buffers[name] = expected_buffers.get(name, 0) + weight * buffer
    whole_grads, whole_buffers = single_process(x, y)

    net = build_network(WITH_BATCHNORM, seed=5, dtype="float64")
    with DataParallel(net, 3) as gradients:
        actual = gradients(x, y, 0)[2]

    for name in expected_grads:
        np.testing.assert_allclose(actual[name], expected_grads[name], rtol=1e-10, atol=1e-14)
    assert not np.allclose(actual["conv2d_1.weight"], whole_grads["conv2d_1.weight"])
    for name in expected_buffers:
        np.testing.assert_allclose(net.buffers[name], expected_buffers[name], rtol=1e-12)
    np.testing.assert_allclose(net.buffers["batchnorm_1.running_mean"],
                               whole_buffers["batchnorm_1.running_mean"], rtol=1e-12)


def test_batchnorm_inside_residual_blocks_uses_per_shard_statistics():
    definition = random_residual_network(3, batchnorm=True)
    x, y = random_batch(definition, 12, seed=6)
    bounds = shard_bounds(len(y), 2)
    expected = {}
    for start, stop in bounds:
        net = build_network(definition, seed=5, dtype="float64")
        grads = InProcessGradients(net)(x[start:stop], y[start:stop], start)[2]
        for name, grad in grads.items():
            expected[name] = expected.get(name, 0) + (stop - start) / len(y) * grad
    net = build_network(definition, seed=5, dtype="float64")
    with DataParallel(net, 2) as gradients:
        actual = gradients(x, y, 0)[2]
    assert any(".batchnorm_" in name for name in actual)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-10, atol=1e-14, err_msg=name)
