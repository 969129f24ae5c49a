"""Training for N steps with 1, 2 and 3 processes gives the same weights, dropout included."""
from __future__ import annotations

import numpy as np
import pytest

from shared.cnn import Trainer, build_network
from shared.cnn.gradients import InProcessGradients
from tests.parallel.conftest import SMALL_CONV, random_batch, with_layer
from worker.training.gradients import gradient_engine
from worker.training.parallel import DataParallel

WITH_DROPOUT = with_layer(SMALL_CONV, 5, {"type": "dropout", "rate": 0.5})
OPTIMIZER = {"type": "sgd", "lr": 0.05, "momentum": 0.9}


def train(definition, workers, steps=6, batch=33):
    net = build_network(definition, seed=7, dtype="float64")
    with gradient_engine(net, workers) as gradients:
        trainer = Trainer(net, OPTIMIZER, total_steps=steps, gradients=gradients)
        losses = []
        for step in range(steps):
            x, y = random_batch(definition, batch, seed=100 + step)
            losses.append(trainer.train_step(x, y).loss)
    return {name: value.copy() for name, value in net.params.items()}, losses


@pytest.mark.parametrize("definition", [SMALL_CONV, WITH_DROPOUT], ids=["plain", "dropout"])
def test_same_weights_with_1_2_3_processes(definition):
    single, single_losses = train(definition, 1)
    initial = build_network(definition, seed=7, dtype="float64").params
    assert any(not np.allclose(single[name], initial[name]) for name in single), "training did not move"
    for workers in (2, 3):
        weights, losses = train(definition, workers)
        np.testing.assert_allclose(losses, single_losses, rtol=1e-10)
        for name in single:
            np.testing.assert_allclose(weights[name], single[name], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} with {workers} processes")


def test_dropout_follows_the_sample_offset_of_a_resumed_trainer():
    # A resumed job continues the sample stream where it stopped: masks follow `sample_offset`,
    # which the Trainer, restored from its checkpoint, hands to whichever engine it uses.
    x, y = random_batch(WITH_DROPOUT, 20, seed=1)
    in_process = InProcessGradients(build_network(WITH_DROPOUT, seed=7, dtype="float64"))
    from_start = in_process(x, y, 0)[2]["dense_1.weight"].copy()
    assert not np.allclose(from_start, in_process(x, y, 1000)[2]["dense_1.weight"])

    def resumed_step(net, gradients=None):
        trainer = Trainer(net, OPTIMIZER, gradients=gradients)
        trainer.load_state_dict({**trainer.state_dict(), "sample_offset": np.array(1000)})
        trainer.train_step(x, y)
        return net.params

    expected = resumed_step(in_process.net)
    net = build_network(WITH_DROPOUT, seed=7, dtype="float64")
    with DataParallel(net, 2) as gradients:
        actual = resumed_step(net, gradients)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-10, atol=1e-14)
