"""The summed shard gradients equal the single-process full-batch gradient, however the batch is cut."""
from __future__ import annotations

import numpy as np
import pytest

from shared.cnn import build_network, softmax_cross_entropy
from shared.cnn.gradients import InProcessGradients
from tests.engine.residual_networks import random_residual_network
from tests.parallel.conftest import LENET, SMALL_CONV, fashion_batch, random_batch
from worker.training.parallel import DataParallel


def reference(net, x, y):
    """One forward and backward pass over the whole batch in this process."""
    logits = net.forward(x, training=True, sample_ids=np.arange(len(y)))
    loss, grad_logits = softmax_cross_entropy(logits, y)
    net.backward(grad_logits, need_input_grad=False)
    correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
    return loss, correct, {name: grad.copy() for name, grad in net.grads.items()}


def assert_data_parallel_matches_reference(net, x, y, workers: int, rtol: float = 1e-10) -> dict:
    """Loss, correct count and gradients of ``workers`` processes equal one process's; the
    reference gradients are returned."""
    loss, correct, expected = reference(net, x, y)
    with DataParallel(net, workers) as gradients:
        dp_loss, dp_correct, actual = gradients(x, y, 0)
    assert_same_gradients(expected, actual, rtol)
    assert dp_loss == pytest.approx(loss, rel=rtol)
    assert dp_correct == correct
    return expected


def assert_same_gradients(expected, actual, rtol):
    assert list(expected) == list(actual)
    for name in expected:
        scale = np.abs(expected[name]).max()
        assert scale > 0, f"{name}: zero gradient makes the comparison meaningless"
        error = np.abs(expected[name] - actual[name]).max() / scale
        assert error <= rtol, f"{name}: relative error {error:.3g} > {rtol:g}"


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_lenet_gradient_matches_full_batch(dtype, rtol):
    x, y = fashion_batch(300, dtype=np.dtype(dtype))
    net = build_network(LENET, seed=3, dtype=dtype)
    assert_data_parallel_matches_reference(net, x, y, 2, rtol)


@pytest.mark.parametrize("batch", [1, 2, 7, 130])
def test_uneven_and_empty_shards(batch):
    # With 3 processes, a batch of 1 or 2 leaves shard processes idle; 7 and 130 cut unevenly.
    x, y = random_batch(SMALL_CONV, batch, seed=batch)
    net = build_network(SMALL_CONV, seed=1, dtype="float64")
    assert_data_parallel_matches_reference(net, x, y, 3)


def test_batches_of_changing_size_and_dtype():
    # The shared batch buffer is replaced when a batch does not fit or changes its element type.
    net = build_network(SMALL_CONV, seed=2, dtype="float64")
    with DataParallel(net, 2) as gradients:
        for count, dtype in [(5, np.float64), (40, np.float64), (12, np.float32), (40, np.float32)]:
            x, y = random_batch(SMALL_CONV, count, seed=count, dtype=dtype)
            _, _, expected = reference(net, x, y)
            _, _, actual = gradients(x, y, 0)
            assert_same_gradients(expected, actual, 1e-6 if dtype == np.float32 else 1e-10)


def test_needs_two_workers():
    net = build_network(SMALL_CONV, seed=0)
    with pytest.raises(ValueError, match="at least 2 workers"):
        DataParallel(net, 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_residual_network_gradient_matches_full_batch(seed):
    # strides, identity and projection shortcuts, a block inside a block (seed 0); no batchnorm,
    # whose per-shard statistics are documented in test_batchnorm
    definition = random_residual_network(seed, batchnorm=False)
    x, y = random_batch(definition, 11, seed=seed)
    net = build_network(definition, seed=seed, dtype="float64")
    expected = assert_data_parallel_matches_reference(net, x, y, 3)
    assert any(".shortcut.conv." in name for name in expected)


def test_a_loss_with_options_reaches_the_shard_processes():
    smoothed = {"type": "cross_entropy", "label_smoothing": 0.2}
    x, y = random_batch(SMALL_CONV, 9, seed=4)
    net = build_network(SMALL_CONV, seed=4, dtype="float64")
    expected_loss, _, expected = InProcessGradients(net, smoothed)(x, y, 0)
    expected = {name: grad.copy() for name, grad in expected.items()}
    with DataParallel(net, 3, smoothed) as gradients:
        dp_loss, _, actual = gradients(x, y, 0)
    assert_same_gradients(expected, actual, 1e-10)
    assert dp_loss == pytest.approx(expected_loss, rel=1e-10)
    assert dp_loss != pytest.approx(reference(net, x, y)[0], rel=1e-6)
