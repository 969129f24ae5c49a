"""Random residual networks in PyTorch with our weights: outputs, gradients and running statistics
agree (skipped when torch is not importable; it is not a project dependency)."""
from collections import OrderedDict

import numpy as np
import pytest

from shared.cnn import build_network
from shared.cnn.layers.plan import default_layer_names
from tests.engine.residual_networks import random_residual_network
from tests.engine.torch_step import assert_step_matches_torch

torch = pytest.importorskip("torch")
nn = torch.nn


class TorchResidual(nn.Module):
    """Held layers registered under our names, so parameter names match ours."""

    def __init__(self, names, modules, shortcut):
        super().__init__()
        self.names = names
        for name, module in zip(names, modules):
            self.add_module(name, module)
        self.shortcut = shortcut

    def forward(self, x):
        out = x
        for name in self.names:
            out = getattr(self, name)(out)
        return out + self.shortcut(x)


def torch_layers(layers, shape):
    """(names, modules, output shape) for our layer list on input ``shape``."""
    names, modules = default_layer_names(layers), []
    for layer in layers:
        kind = layer["type"]
        if kind == "conv2d":
            module = nn.Conv2d(shape[0], layer["filters"], layer["kernel_size"], stride=layer.get("stride", 1),
                               padding=layer.get("padding", 0), bias=layer.get("bias", True))
            shape = tuple(module(torch.zeros(1, *shape)).shape[1:])
        elif kind == "batchnorm":
            module = nn.BatchNorm2d(shape[0])
        elif kind == "residual":
            inner_names, inner, inner_shape = torch_layers(layer["layers"], shape)
            if layer.get("shortcut", "identity") == "identity":
                shortcut = nn.Identity()
            else:
                stride = tuple(-(-a // b) for a, b in zip(shape[1:], inner_shape[1:]))
                with_norm = layer.get("shortcut_batchnorm", True)
                parts = [("conv", nn.Conv2d(shape[0], inner_shape[0], 1, stride=stride, bias=not with_norm))]
                parts += [("norm", nn.BatchNorm2d(inner_shape[0]))] if with_norm else []
                shortcut = nn.Sequential(OrderedDict(parts))
            module, shape = TorchResidual(inner_names, inner, shortcut), inner_shape
        elif kind == "global_avgpool2d":
            module, shape = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (shape[0],)
        elif kind == "dense":
            module, shape = nn.Linear(shape[0], layer["units"]), (layer["units"],)
        else:
            module = {"relu": nn.ReLU(), "tanh": nn.Tanh(), "leaky_relu": nn.LeakyReLU(0.01)}[kind]
        modules.append(module)
    return names, modules, shape


def torch_model(net, definition):
    names, modules, _ = torch_layers(definition["layers"], tuple(definition["input_shape"]))
    model = nn.Sequential(OrderedDict(zip(names, modules))).double()
    with torch.no_grad():
        parameters = dict(model.named_parameters())
        assert set(parameters) == set(net.params)
        for key, value in parameters.items():
            value.copy_(torch.from_numpy(net.params[key]))
    return model


@pytest.mark.parametrize("seed", range(6))
def test_random_residual_networks_match_pytorch(seed):
    definition = random_residual_network(seed, size=9)
    net = build_network(definition, seed=seed, dtype="float64")
    model = torch_model(net, definition)
    rng = np.random.default_rng(seed)
    x, labels = rng.standard_normal((5, 2, 9, 9)), rng.integers(0, 3, size=5)
    assert_step_matches_torch(net, model, x, labels)
    for key, value in model.named_parameters():
        np.testing.assert_allclose(net.grads[key], value.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=key)
    buffers = {key: value for key, value in model.named_buffers() if "num_batches" not in key}
    assert set(buffers) == set(net.buffers)
    for key, value in buffers.items():
        np.testing.assert_allclose(net.buffers[key], value.numpy(), rtol=1e-10, err_msg=key)
    model.eval()
    np.testing.assert_allclose(net.forward(x), model(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
