"""2-D convolution; the arithmetic lives in ``kernels.convolution`` (GEMMs over cache-sized
pieces, shifted slices for stride 1, gathered windows otherwise)."""
from __future__ import annotations

import numpy as np

from ..kernels.convolution import convolution_for
from .base import Layer
from .init import initial_weight


class Conv2D(Layer):
    def __init__(self, plan, dtype, rng):
        super().__init__(plan, dtype)
        spec = plan.spec
        self.window = plan.window
        filters, channels, kh, kw = plan.param_shapes["weight"]
        fan_in, fan_out = channels * kh * kw, filters * kh * kw
        self.weight = self.add_param("weight", initial_weight(rng, spec.init, (filters, channels, kh, kw),
                                                              fan_in, fan_out))
        self.bias = self.add_param("bias", np.zeros(filters)) if spec.bias else None
        self.kernel = convolution_for(plan)

    def forward(self, x, ctx):
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y*s + i*d, x*s + j*d, n] + bias[f]
        return self.kernel.forward(x, self.weight, self.bias)

    def backward(self, grad_out, need_input_grad=True):
        return self.kernel.backward(grad_out, self.weight, self.grads["weight"], self.grads.get("bias"),
                                    need_input_grad)
