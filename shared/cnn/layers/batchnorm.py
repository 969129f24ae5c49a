"""Batch normalisation over channels (after a conv) or features (after a dense).

The channel is axis 0 of the internal layout, so both cases work on a (channels, everything
else) view and reduce along its contiguous rows. Running statistics follow PyTorch:
``running = (1 - momentum) * running + momentum * batch``, with the unbiased variance.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from .base import Layer
from .plan import LayerPlan
from .spec import LayerSpec
from ..json_types import Number
from ..kernels.sums import row_sums


class BatchNormSpec(LayerSpec):
    type: Literal["batchnorm"]
    momentum: Annotated[Number, Field(gt=0, le=1)] = 0.1
    eps: Annotated[Number, Field(gt=0)] = 1e-5

    title = "BatchNorm"

    def shape_rule(self, plan: LayerPlan) -> None:
        c = plan.input_shape[0]
        plan.param_shapes = {"weight": (c,), "bias": (c,)}
        plan.buffer_shapes = {"running_mean": (c,), "running_var": (c,)}
        plan.macs = 2 * c

    def explain(self, plan: LayerPlan) -> str:
        c = plan.input_shape[0]
        over = "channels" if len(plan.input_shape) > 1 else "features"
        return (f"normalises {c} {over}; params = 4*{c} = {4 * c:,}: per {over[:-1]} 2 learned "
                f"(scale gamma = weight, shift beta = bias: {2 * c:,} trainable) and 2 running "
                f"statistics (mean and variance, averaged over training batches with momentum "
                f"{self.momentum} and used in place of the batch's own in evaluation: "
                f"{2 * c:,} not trained)")


class BatchNorm(Layer):
    schema = BatchNormSpec

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
        spec = self.plan.spec
        rows = x.reshape(x.shape[0], -1)
        centred = self.workspace("centred", rows.shape, x.dtype)
        if ctx.training:
            count = rows.shape[1]
            mean = row_sums(rows, self.workspace("mean", (rows.shape[0],), x.dtype))
            mean /= count
            np.subtract(rows, mean[:, None], out=centred)
            var = np.einsum("ij,ij->i", centred, centred) / count
            m = spec.momentum
            running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
            running_mean *= 1 - m
            running_mean += m * mean
            running_var *= 1 - m
            running_var += m * var * (count / max(count - 1, 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            np.subtract(rows, mean[:, None], out=centred)
        inv_std = (1.0 / np.sqrt(var + spec.eps)).astype(x.dtype)
        # kept centred, not normalised: backward folds inv_std into its per-channel factors
        self.cache = (centred, inv_std, ctx.training)
        out = np.multiply(centred, (self.weight * inv_std)[:, None], out=self.workspace("out", rows.shape, x.dtype))
        out += self.bias[:, None]
        return out.reshape(x.shape)

    def backward(self, grad_out, need_input_grad=True):
        # dweight = sum(grad_out * x_hat); dbias = sum(grad_out);
        # training: dx = weight * inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), with
        # x_hat = centred * inv_std; computed in place (in grad_out, when it is contiguous)
        centred, inv_std, training = self.cache
        grad = grad_out.reshape(grad_out.shape[0], -1)
        row_sums(grad, self.grads["bias"])
        np.einsum("ij,ij->i", grad, centred, out=self.grads["weight"])
        self.grads["weight"] *= inv_std
        if not need_input_grad:
            return None
        scale = self.weight * inv_std
        grad *= scale[:, None]
        if not training:
            return grad.reshape(grad_out.shape)
        count = grad.shape[1]
        mean_grad = self.grads["bias"] / count
        mean_grad_xhat = self.grads["weight"] / count
        grad -= np.multiply(centred, (scale * inv_std * mean_grad_xhat)[:, None],
                            out=self.workspace("centred_part", grad.shape, grad.dtype))
        grad -= (scale * mean_grad)[:, None]
        return grad.reshape(grad_out.shape)
