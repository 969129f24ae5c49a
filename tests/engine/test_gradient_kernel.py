"""The one gradient kernel: passes of MICRO_BATCH images or more, as memory allows (whole shards with
batchnorm), whose share-scaled gradients add up to the whole batch's, for every loss the Trainer offers."""
import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.gradients import (LOSSES, InProcessGradients, bytes_per_image, images_per_pass, loss_and_gradient,
                                  shard_gradient)

NET = {"input_shape": [2, 6, 6], "layers": [
    {"type": "conv2d", "filters": 3, "kernel_size": 3}, {"type": "relu"},
    {"type": "flatten"}, {"type": "dropout", "rate": 0.3}, {"type": "dense", "units": 4}]}
WITH_BATCHNORM = {**NET, "layers": NET["layers"][:1] + [{"type": "batchnorm"}] + NET["layers"][1:]}


def batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 6, 6)), rng.integers(0, 4, size=n)


def one_pass(net, x, y, first_sample_id, loss):
    """The textbook gradient: one forward and backward over the whole batch."""
    output = net.forward(x, training=True, sample_ids=np.arange(first_sample_id, first_sample_id + len(y)))
    value, grad = loss_and_gradient(loss, output, y)
    net.backward(grad, need_input_grad=False)
    correct = int(np.count_nonzero(output.argmax(axis=1) == y))
    return value, correct, {name: grad.copy() for name, grad in net.grads.items()}


def recording_forward(net):
    sizes = []
    forward = net.forward

    def record(x, **kwargs):
        sizes.append(len(x))
        return forward(x, **kwargs)
    net.forward = record
    return sizes


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_micro_batches_and_shards_add_up_to_the_whole_batch(monkeypatch, loss):
    from shared.cnn import gradients
    monkeypatch.setattr(gradients, "MICRO_BATCH", 4)
    monkeypatch.setattr(gradients, "PASS_BYTES", 0)
    x, y = batch(11)
    net = build_network(NET, seed=1, dtype="float64")
    expected_loss, _, expected = one_pass(net, x, y, 50, loss)
    sizes = recording_forward(net)
    shards = [(0, 6), (6, 11)]
    outs = [{name: np.full_like(grad, np.nan) for name, grad in net.grads.items()} for _ in shards]
    loss_sum = 0.0
    for (start, stop), out in zip(shards, outs):
        loss_sum += shard_gradient(net, x[start:stop], y[start:stop], 50 + start, 11, out, loss)[0]
    assert sizes == [4, 2, 4, 1]
    assert loss_sum / 11 == pytest.approx(expected_loss, rel=1e-12)
    for name in expected:
        np.testing.assert_allclose(outs[0][name] + outs[1][name], expected[name], rtol=1e-10, atol=1e-14)


def test_batchnorm_runs_each_shard_in_one_pass(monkeypatch):
    from shared.cnn import gradients
    monkeypatch.setattr(gradients, "MICRO_BATCH", 4)
    x, y = batch(11)
    net = build_network(WITH_BATCHNORM, seed=1, dtype="float64")
    _, _, expected = one_pass(net, x, y, 0, "cross_entropy")
    sizes = recording_forward(net)
    _, _, actual = InProcessGradients(net)(x, y, 0)
    assert sizes == [11]
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-12)


def test_passes_hold_as_many_images_as_their_memory_allows_and_never_fewer_than_a_micro_batch(monkeypatch):
    from shared.cnn import gradients
    per_image = bytes_per_image(build_network(NET).summary.plans)
    assert per_image > 0
    monkeypatch.setattr(gradients, "PASS_BYTES", 1000 * per_image)
    assert images_per_pass(per_image, 5000) == 1000
    assert images_per_pass(per_image, 20) == 20
    monkeypatch.setattr(gradients, "PASS_BYTES", 10 * per_image)
    assert images_per_pass(per_image, 5000) == gradients.MICRO_BATCH
    assert bytes_per_image(build_network(WITH_BATCHNORM).summary.plans) is None
    assert images_per_pass(None, 5000) == 5000


def test_a_wider_network_takes_more_memory_an_image():
    narrow = {**NET, "input_shape": [2, 32, 32]}
    wide = {**narrow, "layers": [{**NET["layers"][0], "filters": 30}, *NET["layers"][1:]]}
    assert bytes_per_image(build_network(wide).summary.plans) > 5 * bytes_per_image(build_network(narrow).summary.plans)


def test_in_process_engine_computes_its_loss():
    x, y = batch(7)
    net = build_network(NET, seed=2, dtype="float64")
    for loss in sorted(LOSSES):
        expected_loss, expected_correct, expected = one_pass(net, x, y, 3, loss)
        engine = InProcessGradients(net, loss)
        value, correct, grads = engine(x, y, 3)
        assert engine.loss == loss and value == pytest.approx(expected_loss, rel=1e-12)
        assert correct == expected_correct
        for name in expected:
            np.testing.assert_allclose(grads[name], expected[name], rtol=1e-12)
    with pytest.raises(ValueError, match="loss must be one of"):
        InProcessGradients(net, "hinge")
