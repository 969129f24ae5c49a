"""Element-wise activations; each keeps only what its derivative needs."""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..kernels.frame import rectify
from .base import Layer
from .spec import LayerSpec
from ..json_types import Number


class ReLUSpec(LayerSpec):
    type: Literal["relu"]
    title = "ReLU"

    def value_rule(self) -> str:
        return "out = max(x, 0)"


class LeakyReLUSpec(LayerSpec):
    type: Literal["leaky_relu"]
    negative_slope: Annotated[Number, Field(ge=0, lt=1)] = 0.01
    title = "LeakyReLU"

    def value_rule(self) -> str:
        return f"out = x if x > 0 else {self.negative_slope}*x"


class SigmoidSpec(LayerSpec):
    type: Literal["sigmoid"]
    title = "Sigmoid"

    def value_rule(self) -> str:
        return "out = 1/(1 + exp(-x))"


class TanhSpec(LayerSpec):
    type: Literal["tanh"]
    title = "Tanh"

    def value_rule(self) -> str:
        return "out = tanh(x)"


class ReLU(Layer):
    schema = ReLUSpec
    # Set by ``Network`` when the next layer applies max(x, 0) as it copies its input in: this
    # layer then passes its input on untouched (and keeps it: x > 0 exactly where max(x, 0) > 0).
    passes_input = False

    def forward(self, x, ctx):
        if self.passes_input:
            self.out = x
            return x
        # out = max(x, 0)
        self.out = rectify(x, self.workspace("out", x.shape, x.dtype))
        return self.out

    def backward(self, grad_out, need_input_grad=True):
        # dx = grad_out * [out > 0]
        positive = np.greater(self.out, 0, out=self.workspace("positive", self.out.shape, np.bool_))
        return np.multiply(grad_out, positive, out=grad_out)


class LeakyReLU(Layer):
    schema = LeakyReLUSpec

    def forward(self, x, ctx):
        # out = x if x > 0 else slope * x
        self.positive = x > 0
        return np.where(self.positive, x, x * self.plan.spec.negative_slope)

    def backward(self, grad_out, need_input_grad=True):
        return np.where(self.positive, grad_out, grad_out * self.plan.spec.negative_slope)


class Sigmoid(Layer):
    schema = SigmoidSpec

    def forward(self, x, ctx):
        # out = 1 / (1 + exp(-x)), written with tanh so large |x| never overflows
        self.out = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.out

    def backward(self, grad_out, need_input_grad=True):
        # dx = grad_out * out * (1 - out)
        return grad_out * self.out * (1.0 - self.out)


class Tanh(Layer):
    schema = TanhSpec

    def forward(self, x, ctx):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_out, need_input_grad=True):
        # dx = grad_out * (1 - out^2)
        return grad_out * (1.0 - self.out * self.out)
