"""Fully connected layer on (features, batch) activations."""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .base import Layer
from .init import initial_weight
from .plan import LayerPlan
from .spec import LayerSpec, PositiveInt, needs_flat
from ..json_types import Flag


class DenseSpec(LayerSpec):
    type: Literal["dense"]
    units: PositiveInt
    bias: Flag = True
    init: Literal["he", "xavier"] = "he"

    title = "Dense"
    size_field = "units"

    def shape_rule(self, plan: LayerPlan) -> None:
        needs_flat(plan)
        plan.output_shape = (self.units,)
        plan.param_shapes = {"weight": (self.units, plan.input_shape[0])}
        if self.bias:
            plan.param_shapes["bias"] = (self.units,)
        plan.macs = plan.params

    def explain(self, plan: LayerPlan) -> str:
        bias_term = " + 1" if self.bias else ""
        return (f"units = {self.units}; params = (N_in{bias_term}) * units = "
                f"({plan.input_shape[0]}{bias_term}) * {self.units} = {plan.params:,}")


class FlattenSpec(LayerSpec):
    type: Literal["flatten"]
    title = "Flatten"

    def shape_rule(self, plan: LayerPlan) -> None:
        plan.output_shape = (math.prod(plan.input_shape),)

    def explain(self, plan: LayerPlan) -> str:
        return f"{'*'.join(map(str, plan.input_shape))} = {plan.output_shape[0]}; params = 0"


class Dense(Layer):
    schema = DenseSpec

    def __init__(self, plan, dtype, rng):
        super().__init__(plan, dtype)
        units, n_in = plan.param_shapes["weight"]
        self.weight = self.add_param("weight", initial_weight(rng, plan.spec.init, (units, n_in),
                                                              n_in, units))
        self.bias = self.add_param("bias", np.zeros(units)) if plan.spec.bias else None
        self.x = None

    def forward(self, x, ctx):
        # out = weight @ x + bias
        self.x = x
        out = self.weight @ x
        if self.bias is not None:
            out += self.bias[:, None]
        return out

    def backward(self, grad_out, need_input_grad=True):
        # dweight = grad_out @ x^T; dbias = sum_n grad_out; dx = weight^T @ grad_out
        np.matmul(grad_out, self.x.T, out=self.grads["weight"])
        if self.bias is not None:
            np.add.reduce(grad_out, axis=1, out=self.grads["bias"])
        return self.weight.T @ grad_out if need_input_grad else None


class Flatten(Layer):
    """(C, H, W, N) -> (C*H*W, N): the same feature order as flattening NCHW per image."""

    schema = FlattenSpec

    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype)
        self.input_shape = None

    def forward(self, x, ctx):
        self.input_shape = x.shape
        return x.reshape(-1, x.shape[-1])

    def backward(self, grad_out, need_input_grad=True):
        return grad_out.reshape(self.input_shape)
