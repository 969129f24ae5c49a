"""The PyTorch CPU side of the speed benchmarks: a convforge definition rebuilt as a
``torch.nn.Sequential`` and one SGD momentum training step on a given batch. PyTorch is not a
project dependency."""
from __future__ import annotations

import numpy as np

from shared.cnn import build_network


def torch_model(definition: dict):
    """The same layers (shapes from convforge's own plan) as a torch module."""
    import torch
    nn = torch.nn
    modules = []
    for plan in build_network(definition).summary.plans:
        spec, kind = plan.spec, plan.type
        if kind == "conv2d":
            filters, channels, kh, kw = plan.param_shapes["weight"]
            top, bottom, left, right = plan.window.padding
            if (top, left) != (bottom, right):
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
                top = left = 0
            modules.append(nn.Conv2d(channels, filters, (kh, kw), stride=plan.window.stride, padding=(top, left),
                                     dilation=plan.window.dilation, bias=spec.bias))
        elif kind in ("maxpool2d", "avgpool2d"):
            top, _, left, _ = plan.window.padding
            pool = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
            modules.append(pool(plan.window.kernel, plan.window.stride, padding=(top, left)))
        elif kind == "global_avgpool2d":
            modules.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        elif kind == "batchnorm":
            norm = nn.BatchNorm2d if len(plan.input_shape) == 3 else nn.BatchNorm1d
            modules.append(norm(plan.input_shape[0], eps=spec.eps, momentum=spec.momentum))
        elif kind == "dense":
            units, inputs = plan.param_shapes["weight"]
            modules.append(nn.Linear(inputs, units, bias=spec.bias))
        else:
            modules.append({"flatten": nn.Flatten, "relu": nn.ReLU, "tanh": nn.Tanh,
                            "sigmoid": nn.Sigmoid}[kind]())
    return nn.Sequential(*modules)


def torch_step(definition: dict, x: np.ndarray, y: np.ndarray, threads: int):
    """A callable running one training step, or None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_model(definition)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()
        optimizer.step()
    return step
