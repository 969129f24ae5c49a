"""2-D convolution: strided windows gathered per kernel offset, then one GEMM for the batch.

The gathered windows ("columns") get an extra row of ones, so the bias rides along in the
GEMM and its gradient comes out of the weight-gradient GEMM as the last column.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .base import Layer, pad_feature_map, unpad_feature_map, window_slice
from .gemm import matmul_by_columns, matmul_transposed_by_columns
from .init import initial_weight
from .plan import BYTES_PER_VALUE, LayerPlan
from .spec import IntOrPair, LayerSpec, Padding, PositiveInt, needs_feature_map
from .window import slide, window_explain, window_of
from ..json_types import Flag


class Conv2DSpec(LayerSpec):
    type: Literal["conv2d"]
    filters: PositiveInt
    kernel_size: IntOrPair
    stride: IntOrPair = 1
    padding: Padding = 0
    dilation: IntOrPair = 1
    bias: Flag = True
    init: Literal["he", "xavier"] = "he"

    title = "Conv2D"
    size_field = "filters"

    def shape_rule(self, plan: LayerPlan) -> None:
        needs_feature_map(plan)
        c = plan.input_shape[0]
        plan.window = window_of(self.kernel_size, self.stride, self.padding, self.dilation,
                                plan.input_shape)
        out_h, out_w = slide(plan.window, plan.input_shape, "kernel_size", "kernel")
        kh, kw = plan.window.kernel
        plan.output_shape = (self.filters, out_h, out_w)
        plan.param_shapes = {"weight": (self.filters, c, kh, kw)}
        if self.bias:
            plan.param_shapes["bias"] = (self.filters,)
        plan.macs = (kh * kw * c + self.bias) * self.filters * out_h * out_w

    def explain(self, plan: LayerPlan) -> str:
        _, c, kh, kw = plan.param_shapes["weight"]
        bias_term = " + 1" if self.bias else ""
        return (f"{window_explain(plan)}; params = ({kh}*{kw}*{c}{bias_term}) * {self.filters} "
                f"= {plan.params}")

    def scratch(self, plan: LayerPlan) -> tuple[int, str, str]:
        # the engine gathers every window of a sample before its GEMM
        _, c, kh, kw = plan.param_shapes["weight"]
        rows = c * kh * kw + 1
        return (rows * plan.output_shape[1] * plan.output_shape[2] * BYTES_PER_VALUE,
                f"gathering its {kh}x{kw}x{c} windows", "kernel_size")


class Conv2D(Layer):
    schema = Conv2DSpec

    def __init__(self, plan, dtype, rng):
        super().__init__(plan, dtype)
        spec, window = plan.spec, plan.window
        self.window = window
        filters, channels, kh, kw = plan.param_shapes["weight"]
        fan_in, fan_out = channels * kh * kw, filters * kh * kw
        self.weight = self.add_param("weight", initial_weight(rng, spec.init, (filters, channels, kh, kw),
                                                              fan_in, fan_out))
        self.bias = self.add_param("bias", np.zeros(filters)) if spec.bias else None
        self.kernel_rows = channels * kh * kw
        (sh, sw), (dh, dw) = window.stride, window.dilation
        _, out_h, out_w = plan.output_shape
        # (i, j, padded rows read, padded columns read) for each kernel offset
        self.offsets = [(i, j, window_slice(i, dh, sh, out_h), window_slice(j, dw, sw, out_w))
                        for i in range(kh) for j in range(kw)]
        self.cache = None

    def _windows_view(self, x_pad: np.ndarray) -> np.ndarray:
        """x_pad seen as (C, kh, kw, out_h, out_w, N): every window without copying."""
        (sh, sw), (dh, dw) = self.window.stride, self.window.dilation
        _, out_h, out_w = self.plan.output_shape
        s_c, s_h, s_w, s_n = x_pad.strides
        shape = (x_pad.shape[0], *self.window.kernel, out_h, out_w, x_pad.shape[3])
        return as_strided(x_pad, shape, (s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w, s_n), writeable=False)

    def _weight_matrix(self) -> np.ndarray:
        filters = self.weight.shape[0]
        matrix = self.weight.reshape(filters, self.kernel_rows)
        if self.bias is None:
            return matrix
        return np.concatenate([matrix, self.bias[:, None]], axis=1)

    def forward(self, x, ctx):
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y*s + i*d, x*s + j*d, n] + bias[f]
        channels, _, _, batch = x.shape
        filters, _, kh, kw = self.weight.shape
        _, out_h, out_w = self.plan.output_shape
        x_pad = pad_feature_map(x, self.window.padding, layer=self)
        rows = self.kernel_rows + (self.bias is not None)
        columns = self.workspace("columns", (rows, out_h * out_w * batch), x.dtype)
        windows = columns[:self.kernel_rows].reshape(channels, kh, kw, out_h, out_w, batch)
        windows[...] = self._windows_view(x_pad)
        if self.bias is not None:
            columns[-1] = 1
        out = matmul_by_columns(self._weight_matrix(), columns,
                                self.workspace("out", (filters, columns.shape[1]), x.dtype))
        self.cache = (columns, x_pad.shape)
        return out.reshape(filters, out_h, out_w, batch)

    def backward(self, grad_out, need_input_grad=True):
        # d[weight | bias]^T = columns @ grad_out^T; dcolumns = weight^T @ grad_out, each kernel
        # offset's slice of dcolumns added back where forward read it.
        columns, padded_shape = self.cache
        filters, channels, kh, kw = self.weight.shape
        _, out_h, out_w, batch = grad_out.shape
        grad_2d = grad_out.reshape(filters, -1)
        grad_matrix = matmul_transposed_by_columns(
            columns, grad_2d, np.empty((columns.shape[0], filters), dtype=grad_out.dtype))
        self.grads["weight"].reshape(filters, -1)[...] = grad_matrix[:self.kernel_rows].T
        if self.bias is not None:
            self.grads["bias"][...] = grad_matrix[-1]
        if not need_input_grad:
            return None
        weight_t = self.weight.reshape(filters, self.kernel_rows).T
        grad_columns = matmul_by_columns(
            weight_t, grad_2d, self.workspace("grad_columns", (self.kernel_rows, grad_2d.shape[1]), grad_out.dtype))
        grad_windows = grad_columns.reshape(channels, kh, kw, out_h, out_w, batch)
        grad_pad = self.workspace("grad_input", padded_shape, grad_out.dtype)
        grad_pad.fill(0)
        for i, j, rows_read, cols_read in self.offsets:
            grad_pad[:, rows_read, cols_read] += grad_windows[:, i, j]
        return unpad_feature_map(grad_pad, self.window.padding)
