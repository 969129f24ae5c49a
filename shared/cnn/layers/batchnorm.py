"""Batch normalisation over channels (after a conv) or features (after a dense).

The channel is axis 0 of the internal layout, so both cases reduce over every other axis.
Running statistics follow PyTorch: ``running = (1 - momentum) * running + momentum * batch``,
with the unbiased variance.
"""
from __future__ import annotations

import numpy as np

from .base import Layer, per_channel


class BatchNorm(Layer):
    def __init__(self, plan, dtype, rng=None):
        super().__init__(plan, dtype)
        channels = plan.param_shapes["weight"][0]
        self.weight = self.add_param("weight", np.ones(channels))
        self.bias = self.add_param("bias", np.zeros(channels))
        self.buffers["running_mean"] = np.zeros(channels, dtype=self.dtype)
        self.buffers["running_var"] = np.ones(channels, dtype=self.dtype)
        self.cache = None

    def forward(self, x, ctx):
        # x_hat = (x - mean) / sqrt(var + eps); out = weight * x_hat + bias
        spec, ndim = self.plan.spec, x.ndim
        axes = tuple(range(1, ndim))
        if ctx.training:
            count = x.size // x.shape[0]
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            m = spec.momentum
            running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
            running_mean *= 1 - m
            running_mean += m * mean
            running_var *= 1 - m
            running_var += m * var * (count / max(count - 1, 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        inv_std = (1.0 / np.sqrt(var + spec.eps)).astype(x.dtype)
        x_hat = (x - per_channel(mean, ndim)) * per_channel(inv_std, ndim)
        self.cache = (x_hat, inv_std, ctx.training)
        return x_hat * per_channel(self.weight, ndim) + per_channel(self.bias, ndim)

    def backward(self, grad_out, need_input_grad=True):
        # dweight = sum(grad_out * x_hat); dbias = sum(grad_out);
        # training: dx = weight * inv_std * (g - mean(g) - x_hat * mean(g * x_hat))
        x_hat, inv_std, training = self.cache
        ndim = grad_out.ndim
        axes = tuple(range(1, ndim))
        grad_out.sum(axis=axes, out=self.grads["bias"])
        (grad_out * x_hat).sum(axis=axes, out=self.grads["weight"])
        if not need_input_grad:
            return None
        scale = per_channel(self.weight * inv_std, ndim)
        if not training:
            return grad_out * scale
        count = grad_out.size // grad_out.shape[0]
        mean_grad = per_channel(self.grads["bias"] / count, ndim)
        mean_grad_xhat = per_channel(self.grads["weight"] / count, ndim)
        return scale * (grad_out - mean_grad - x_hat * mean_grad_xhat)
