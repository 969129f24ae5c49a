"""Random residual networks for the gradient, PyTorch and data-parallel tests: strides,
projections with and without batchnorm, identity shortcuts, and a block inside a block."""
from __future__ import annotations

import numpy as np


def random_block(rng: np.random.Generator, channels: int, batchnorm: bool, nested: bool = False,
                 grow: bool = False) -> tuple[dict, int]:
    """A basic block (conv, [bn], act, conv, [bn]) that may change channels and stride."""
    filters = channels + (2 if grow else int(rng.integers(0, 2)) * 2)
    stride = int(rng.integers(1, 3))
    changes = filters != channels or stride != 1
    shortcut = "projection" if changes or rng.random() < 0.3 else "identity"
    activation = {"type": str(rng.choice(["relu", "tanh", "leaky_relu"]))}
    layers = [{"type": "conv2d", "filters": filters, "kernel_size": 3, "stride": stride, "padding": 1}]
    layers += [{"type": "batchnorm"}] if batchnorm else []
    layers += [activation, {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": 1}]
    if nested:
        layers.append({"type": "residual", "layers": [
            {"type": "conv2d", "filters": filters, "kernel_size": 3, "padding": 1}, {"type": "tanh"}]})
    layers += [{"type": "batchnorm"}] if batchnorm else []
    block = {"type": "residual", "shortcut": shortcut, "layers": layers}
    if shortcut == "projection":
        block["shortcut_batchnorm"] = bool(rng.random() < 0.5) if batchnorm else False
    return block, filters


def random_residual_network(seed: int, batchnorm: bool = True, size: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    channels = int(rng.integers(2, 4))
    layers = [{"type": "conv2d", "filters": channels, "kernel_size": 3, "padding": 1}, {"type": "relu"}]
    for position in range(2):
        block, channels = random_block(rng, channels, batchnorm, nested=position == 1 and seed % 2 == 0,
                                       grow=position == 0)
        layers += [block, {"type": "relu"}]
    layers += [{"type": "global_avgpool2d"}, {"type": "dense", "units": 3}]
    return {"name": f"random_resnet_{seed}", "input_shape": [2, size, size], "layers": layers}
