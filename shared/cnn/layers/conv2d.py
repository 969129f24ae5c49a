"""2-D convolution: strided windows gathered per kernel offset, then one GEMM for the batch."""
from __future__ import annotations


import numpy as np

from .base import Layer, pad_feature_map, unpad_feature_map, window_slice
from .init import initial_weight


class Conv2D(Layer):
    def __init__(self, plan, dtype, rng):
        super().__init__(plan, dtype)
        spec, window = plan.spec, plan.window
        self.window = window
        filters, channels, kh, kw = plan.param_shapes["weight"]
        fan_in, fan_out = channels * kh * kw, filters * kh * kw
        self.weight = self.add_param("weight", initial_weight(rng, spec.init, (filters, channels, kh, kw),
                                                              fan_in, fan_out))
        self.bias = self.add_param("bias", np.zeros(filters)) if spec.bias else None
        self.cache = None

    def _offsets(self, out_h, out_w):
        (kh, kw), (sh, sw), (dh, dw) = self.window.kernel, self.window.stride, self.window.dilation
        for i in range(kh):
            for j in range(kw):
                yield i, j, window_slice(i, dh, sh, out_h), window_slice(j, dw, sw, out_w)

    def forward(self, x, ctx):
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y*s + i*d, x*s + j*d, n] + bias[f]
        channels, _, _, batch = x.shape
        filters, _, kh, kw = self.weight.shape
        _, out_h, out_w = self.plan.output_shape
        x_pad = pad_feature_map(x, self.window.padding)
        columns = np.empty((channels, kh, kw, out_h, out_w, batch), dtype=x.dtype)
        for i, j, rows, cols in self._offsets(out_h, out_w):
            columns[:, i, j] = x_pad[:, rows, cols]
        columns = columns.reshape(channels * kh * kw, out_h * out_w * batch)
        out = self.weight.reshape(filters, -1) @ columns
        if self.bias is not None:
            out += self.bias[:, None]
        self.cache = (columns, x_pad.shape, x.shape)
        return out.reshape(filters, out_h, out_w, batch)

    def backward(self, grad_out, need_input_grad=True):
        # dweight = grad_out @ columns^T; dbias = sum(grad_out); dcolumns = weight^T @ grad_out,
        # each kernel offset's slice of dcolumns added back where forward read it.
        columns, padded_shape, input_shape = self.cache
        filters, channels, kh, kw = self.weight.shape
        _, out_h, out_w, batch = grad_out.shape
        grad_2d = grad_out.reshape(filters, -1)
        np.matmul(grad_2d, columns.T, out=self.grads["weight"].reshape(filters, -1))
        if self.bias is not None:
            grad_2d.sum(axis=1, out=self.grads["bias"])
        if not need_input_grad:
            return None
        grad_columns = (self.weight.reshape(filters, -1).T @ grad_2d).reshape(
            channels, kh, kw, out_h, out_w, batch)
        grad_pad = np.zeros(padded_shape, dtype=grad_out.dtype)
        for i, j, rows, cols in self._offsets(out_h, out_w):
            grad_pad[:, rows, cols] += grad_columns[:, i, j]
        return unpad_feature_map(grad_pad, self.window.padding)
