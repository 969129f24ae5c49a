import math

import numpy as np
import pytest

from shared.cnn import (OptimizerSpec, ScheduleSpec, SpecError, Trainer, build_network, evaluate, fit,
                        make_optimizer, make_schedule, mean_squared_error, softmax_cross_entropy)
from shared.cnn.training import mirrored_forward
from shared.cnn.gradients import InProcessGradients

TINY = {"input_shape": [1, 6, 6], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 2}]}


def tiny_problem(n=64, seed=0):
    """Bright top half versus bright bottom half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.normal(0, 0.1, size=(n, 1, 6, 6))
    x[y == 0, :, :3] += 1.0
    x[y == 1, :, 3:] += 1.0
    return x.astype(np.float32), y


def test_softmax_cross_entropy_is_stable_and_exact():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss, grad = softmax_cross_entropy(logits, np.array([0, 2]))
    assert math.isfinite(loss)
    assert loss == pytest.approx(math.log(3) / 2)
    np.testing.assert_allclose(grad, [[0, 0, 0], [1 / 6, 1 / 6, -1 / 3]], atol=1e-12)
    with pytest.raises(ValueError, match="labels must be in"):
        softmax_cross_entropy(logits, np.array([0, 3]))


def test_mean_squared_error():
    loss, grad = mean_squared_error(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    assert loss == pytest.approx(2.5)
    np.testing.assert_allclose(grad, [[1.0, 2.0]])


def test_sgd_momentum_matches_hand_computation():
    param = {"w": np.array([1.0])}
    optimizer = make_optimizer({"type": "sgd", "lr": 0.1, "momentum": 0.9}, param)
    grad = {"w": np.array([0.5])}
    optimizer.step(param, grad)          # v = 0.5;            w = 1 - 0.05 = 0.95
    optimizer.step(param, grad)          # v = 0.9*0.5 + 0.5;  w = 0.95 - 0.095 = 0.855
    assert param["w"][0] == pytest.approx(0.855)
    nesterov = {"w": np.array([1.0])}
    optimizer = make_optimizer({"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}, nesterov)
    optimizer.step(nesterov, grad)       # v = 0.5; step = g + 0.9 v = 0.95; w = 0.905
    assert nesterov["w"][0] == pytest.approx(0.905)


def test_adam_first_step_is_lr_times_sign_and_adamw_decays():
    param = {"w": np.array([1.0, -1.0])}
    make_optimizer({"type": "adam", "lr": 0.01}, param).step(param, {"w": np.array([3.0, -0.2])})
    np.testing.assert_allclose(param["w"], [0.99, -0.99], rtol=1e-6)
    decayed = {"w": np.array([1.0])}
    make_optimizer({"type": "adamw", "lr": 0.1, "weight_decay": 0.5}, decayed).step(decayed, {"w": np.array([0.0])})
    assert decayed["w"][0] == pytest.approx(0.95)


def test_optimizer_state_round_trip():
    param = {"w": np.array([1.0, 2.0])}
    optimizer = make_optimizer({"type": "adam", "lr": 0.01}, param)
    optimizer.step(param, {"w": np.array([1.0, 1.0])})
    copy = {"w": param["w"].copy()}
    restored = make_optimizer({"type": "adam", "lr": 0.01}, copy)
    restored.load_state_dict(optimizer.state_dict())
    optimizer.step(param, {"w": np.array([0.3, -1.0])})
    restored.step(copy, {"w": np.array([0.3, -1.0])})
    np.testing.assert_array_equal(param["w"], copy["w"])


def test_bad_optimizer_and_schedule_specs():
    with pytest.raises(SpecError) as info:
        make_optimizer({"type": "rmsprop", "lr": -1}, {})
    locs = {tuple(e["loc"]) for e in info.value.errors}
    assert ("optimizer", "type") in locs and ("optimizer", "lr") in locs
    with pytest.raises(SpecError, match="nesterov needs momentum"):
        make_optimizer({"type": "sgd", "nesterov": True}, {})
    with pytest.raises(SpecError, match="step_size"):
        make_schedule({"type": "step"}, 0.1, 10)
    assert OptimizerSpec.model_validate({"type": "adamw"}).lr == 0.01
    assert ScheduleSpec.model_validate({"type": "cosine"}).root.type == "cosine"


def test_schedules():
    step = make_schedule({"type": "step", "step_size": 10, "gamma": 0.5}, 0.1, 100)
    assert [step(0), step(9), step(10), step(25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    cosine = make_schedule({"type": "cosine", "warmup_steps": 2}, 1.0, 12)
    assert cosine(0) == pytest.approx(0.5) and cosine(2) == pytest.approx(1.0)
    assert cosine(7) == pytest.approx(0.5) and cosine(12) == pytest.approx(0.0)
    assert make_schedule(None, 0.3, 5)(4) == 0.3
    with pytest.raises(SpecError, match="needs the total number of steps"):
        make_schedule({"type": "cosine"}, 0.1, None)


@pytest.mark.parametrize("optimizer", [{"type": "sgd", "lr": 0.1, "momentum": 0.9},
                                       {"type": "adam", "lr": 0.01}, {"type": "adamw", "lr": 0.01}])
def test_loss_goes_down_on_a_tiny_problem(optimizer):
    x, y = tiny_problem()
    net = build_network(TINY, seed=0)
    trainer = Trainer(net, optimizer, {"type": "cosine"}, total_steps=30)
    first = trainer.train_step(x, y)
    for _ in range(29):
        last = trainer.train_step(x, y)
    assert last.loss < first.loss * 0.5
    assert last.correct == last.count == 64
    assert trainer.step == 30


def test_micro_batches_give_the_full_batch_gradient(monkeypatch):
    from shared.cnn import gradients
    x, y = tiny_problem(n=10)
    engine = InProcessGradients(build_network(TINY, seed=1, dtype="float64"))
    loss, correct, grads = engine(x, y, 0)
    whole = {k: v.copy() for k, v in grads.items()}
    monkeypatch.setattr(gradients, "MICRO_BATCH", 3)
    monkeypatch.setattr(gradients, "PASS_BYTES", 0)
    loss_parts, correct_parts, parts = engine(x, y, 0)
    assert loss_parts == pytest.approx(loss) and correct_parts == correct
    for key in whole:
        np.testing.assert_allclose(parts[key], whole[key], rtol=1e-10, atol=1e-12)


def test_custom_gradient_engine_and_checkpoint_state():
    x, y = tiny_problem(n=8)
    net = build_network(TINY)

    class Engine:
        loss = "cross_entropy"
        calls = []

        def __call__(self, xb, yb, first_sample_id):
            self.calls.append((len(xb), first_sample_id))
            return 0.25, 3, {k: np.ones_like(v) for k, v in net.params.items()}

    engine = Engine()
    trainer = Trainer(net, {"type": "sgd", "lr": 0.5}, gradients=engine)
    before = net.params["dense_1.bias"].copy()
    result = trainer.train_step(x, y)
    trainer.train_step(x, y)
    assert engine.calls == [(8, 0), (8, 8)]
    assert (result.loss, result.correct, result.count, result.lr) == (0.25, 3, 8, 0.5)
    np.testing.assert_allclose(net.params["dense_1.bias"], before - 1.0)
    state = trainer.state_dict()
    fresh = Trainer(net, {"type": "sgd", "lr": 0.5})
    fresh.load_state_dict(state)
    assert fresh.step == 2 and fresh.sample_offset == 16


def test_engine_and_trainer_must_agree_on_the_loss():
    net = build_network(TINY)
    with pytest.raises(ValueError, match="computes the 'cross_entropy' loss, not 'mse'"):
        Trainer(net, {"type": "sgd"}, loss="mse", gradients=InProcessGradients(net))
    with pytest.raises(ValueError, match="loss must be one of"):
        Trainer(net, {"type": "sgd"}, loss="hinge")


def test_fit_and_evaluate():
    x, y = tiny_problem(n=96)
    net = build_network(TINY, seed=2)
    history = fit(net, x, y, {"type": "adam", "lr": 0.02}, epochs=4, batch_size=16, validation=(x, y))
    assert len(history) == 4 and history[-1]["loss"] < history[0]["loss"]
    loss, accuracy, predictions = evaluate(net, x, y, batch_size=40)
    assert predictions.shape == (96,) and accuracy > 0.9 and loss == pytest.approx(history[-1]["val_loss"])


def test_mirrored_evaluation_averages_each_image_with_its_mirror_image():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 1, 6, 6)), rng.integers(0, 2, size=10)
    net = build_network(TINY, seed=5, dtype="float64")
    plain, mirrored_inputs = net.forward(x), net.forward(x[..., ::-1].copy())
    expected = (plain + mirrored_inputs) / 2
    assert not np.allclose(plain, expected)  # this network is not symmetric, so the mirror counts
    np.testing.assert_allclose(mirrored_forward(net, x), expected, rtol=1e-12)
    loss, accuracy, predictions = evaluate(net, x, y, batch_size=3, mirror=True)
    np.testing.assert_array_equal(predictions, expected.argmax(axis=1))
    assert loss == pytest.approx(softmax_cross_entropy(expected, y)[0])
    # A left-right symmetric batch is its own mirror image: the same outputs either way.
    symmetric = x + x[..., ::-1]
    np.testing.assert_allclose(mirrored_forward(net, symmetric), net.forward(symmetric), rtol=1e-12)
    with pytest.raises(ValueError, match=r"need images \(N, C, H, W\)"):
        mirrored_forward(net, x.reshape(10, 36))


def test_label_smoothing_is_cross_entropy_against_smoothed_targets():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, size=5)
    smoothing = 0.1
    target = np.full((5, 4), smoothing / 4)
    target[np.arange(5), labels] += 1 - smoothing
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss, grad = softmax_cross_entropy(logits, labels, label_smoothing=smoothing)
    assert loss == pytest.approx(float(-(target * log_softmax).sum(axis=1).mean()), rel=1e-12)
    np.testing.assert_allclose(grad, (np.exp(log_softmax) - target) / 5, atol=1e-15)
    assert softmax_cross_entropy(logits, labels, 0.0)[0] == softmax_cross_entropy(logits, labels)[0]
    with pytest.raises(ValueError, match="label_smoothing"):
        softmax_cross_entropy(logits, labels, label_smoothing=1.0)


def test_trainer_takes_a_loss_with_options():
    x, y = tiny_problem(n=8)
    smoothed = {"type": "cross_entropy", "label_smoothing": 0.2}
    net = build_network(TINY, seed=1, dtype="float64")
    expected = softmax_cross_entropy(net.forward(x), y, label_smoothing=0.2)[0]
    assert expected != pytest.approx(softmax_cross_entropy(net.forward(x), y)[0])
    result = Trainer(net, {"type": "sgd", "lr": 0.1}, loss=smoothed).train_step(x, y)
    assert result.loss == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="has no option 'smoothing'"):
        Trainer(net, {"type": "sgd"}, loss={"type": "cross_entropy", "smoothing": 0.1})
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\)"):
        Trainer(net, {"type": "sgd"}, loss={"type": "cross_entropy", "label_smoothing": 1.5})
    with pytest.raises(ValueError, match="computes the 'cross_entropy' loss"):
        Trainer(net, {"type": "sgd"}, loss=smoothed, gradients=InProcessGradients(net))
