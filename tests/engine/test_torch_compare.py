"""The same network, weights and batch in PyTorch: outputs and gradients must agree (skipped
when torch is not importable; it is not a project dependency)."""
import numpy as np
import pytest

from shared.cnn import Trainer, build_network
from tests.engine.torch_step import assert_step_matches_torch

torch = pytest.importorskip("torch")

DEFINITION = {"input_shape": [3, 11, 10], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 2], "dilation": [1, 2]},
    {"type": "batchnorm"}, {"type": "leaky_relu", "negative_slope": 0.1},
    {"type": "maxpool2d", "pool_size": 3, "stride": 2, "padding": 1},
    {"type": "conv2d", "filters": 5, "kernel_size": 2},
    {"type": "tanh"}, {"type": "avgpool2d", "pool_size": 2, "stride": 1, "padding": 1},
    {"type": "flatten"}, {"type": "dense", "units": 7}, {"type": "sigmoid"}, {"type": "dense", "units": 3}]}


def torch_model(net):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)), nn.BatchNorm2d(4),
        nn.LeakyReLU(0.1), nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(4, 5, 2), nn.Tanh(),
        nn.AvgPool2d(2, stride=1, padding=1), nn.Flatten(), nn.Linear(net.layers[8].params["weight"].shape[1], 7),
        nn.Sigmoid(), nn.Linear(7, 3)).double()
    ours = [layer for layer in net.layers if layer.params]
    theirs = [module for module in model if any(True for _ in module.parameters())]
    with torch.no_grad():
        for layer, module in zip(ours, theirs):
            module.weight.copy_(torch.from_numpy(layer.params["weight"]))
            module.bias.copy_(torch.from_numpy(layer.params["bias"]))
    return model, list(zip(ours, theirs))


def test_forward_and_gradients_match_pytorch():
    net = build_network(DEFINITION, seed=0, dtype="float64")
    model, pairs = torch_model(net)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 11, 10))
    labels = rng.integers(0, 3, size=6)
    assert_step_matches_torch(net, model, x, labels)
    for layer, module in pairs:
        np.testing.assert_allclose(layer.grads["weight"], module.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.grads["bias"], module.bias.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.buffers["batchnorm_1.running_mean"], model[1].running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(net.buffers["batchnorm_1.running_var"], model[1].running_var.numpy(), rtol=1e-10)
    model.eval()
    np.testing.assert_allclose(net.forward(x), model(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec", [
    {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"type": "adam", "lr": 0.01, "weight_decay": 0.01},
    {"type": "adamw", "lr": 0.01, "weight_decay": 0.1, "betas": [0.8, 0.99]}])
def test_optimizer_steps_match_pytorch(spec):
    net = build_network(DEFINITION, seed=1, dtype="float64")
    model, pairs = torch_model(net)
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((5, 3, 11, 10)), rng.integers(0, 3, size=5)
    trainer = Trainer(net, spec)
    options = {"lr": spec["lr"], "weight_decay": spec["weight_decay"]}
    if spec["type"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), momentum=spec["momentum"], nesterov=True, **options)
    else:
        kind = torch.optim.Adam if spec["type"] == "adam" else torch.optim.AdamW
        optimizer = kind(model.parameters(), betas=tuple(spec.get("betas", (0.9, 0.999))), **options)
    model.train()
    for _ in range(3):
        trainer.train_step(x, labels)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(labels)).backward()
        optimizer.step()
    for layer, module in pairs:
        np.testing.assert_allclose(layer.params["weight"], module.weight.detach().numpy(), rtol=1e-8, atol=1e-10)
