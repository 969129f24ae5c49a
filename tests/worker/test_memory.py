"""The memory estimate counts the activations of the passes the gradient kernel really runs."""
import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.gradients import InProcessGradients
from worker.training.memory import ACTIVATION_FACTOR, BYTES_PER_VALUE, PARAMETER_FACTOR, training_bytes

PLAIN = {"name": "plain", "input_shape": [1, 8, 8], "layers": [
    {"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "relu"},
    {"type": "flatten"}, {"type": "dense", "units": 3}]}
WITH_BATCHNORM = {**PLAIN, "name": "bn",
                  "layers": PLAIN["layers"][:1] + [{"type": "batchnorm"}] + PLAIN["layers"][1:]}


@pytest.mark.parametrize("definition", [PLAIN, WITH_BATCHNORM], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("batch_size", [5, 300])
def test_estimate_follows_the_largest_pass_of_the_kernel(definition, batch_size):
    net = build_network(definition, seed=0)
    sizes = []
    forward = net.forward
    net.forward = lambda x, **kwargs: sizes.append(len(x)) or forward(x, **kwargs)
    rng = np.random.default_rng(0)
    InProcessGradients(net)(rng.random((batch_size, 1, 8, 8), dtype=np.float32), rng.integers(0, 3, batch_size), 0)

    summary = net.summary.as_dict()
    parameters = summary["total_params"] * BYTES_PER_VALUE * PARAMETER_FACTOR
    activations = summary["activation_bytes"] * max(sizes) * ACTIVATION_FACTOR
    assert training_bytes(summary, batch_size) == activations + parameters
    # Without batchnorm a large batch costs no more than one micro-batch; with it, every image counts.
    assert (max(sizes) == batch_size) == (batch_size == 5 or definition is WITH_BATCHNORM)
