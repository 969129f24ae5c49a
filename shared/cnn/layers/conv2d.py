"""2-D convolution; the arithmetic lives in ``kernels.convolution`` (GEMMs over cache-sized
pieces, shifted slices for stride 1, gathered windows otherwise)."""
from __future__ import annotations

from typing import Literal

import numpy as np

from ..kernels.convolution import convolution_for
from .base import Layer
from .init import initial_weight
from .plan import BYTES_PER_VALUE, LayerPlan
from .spec import IntOrPair, LayerSpec, Padding, PositiveInt, needs_feature_map
from .window import receptive_explain, slide, window_explain, window_of, window_receptive_field
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
        # every output value connected to every input value, each connection its own weight
        outputs = self.filters * out_h * out_w
        plan.dense_equivalent_params = (c * plan.input_shape[1] * plan.input_shape[2]
                                        + self.bias) * outputs

    def receptive_field(self, plan: LayerPlan):
        return window_receptive_field(plan)

    def explain(self, plan: LayerPlan) -> str:
        k, c, kh, kw = plan.param_shapes["weight"]
        _, out_h, out_w = plan.output_shape
        f_text, f_names = ("F*F", f"F = {kh} kernel size") if kh == kw else (
            "F_h*F_w", f"F_h = {kh}, F_w = {kw} kernel rows and columns")
        channels = f"{c} input channel{'s' if c != 1 else ''}"
        bias_term = " + 1" if self.bias else ""
        per_filter = kh * kw * c + self.bias
        positions = out_h * out_w
        with_bias = f" ({per_filter:,} values with its bias)" if self.bias else ""
        lines = [
            f"{window_explain(plan)}; params = ({f_text}*D_in{bias_term}) * K = "
            f"({kh}*{kw}*{c}{bias_term}) * {k} = {plan.params:,}",
            f"{f_names}; D_in = {channels}: a filter spans the whole depth of its input, so its "
            f"depth must equal D_in and each filter is {kh}x{kw}x{c}{with_bias}",
            f"K = {k} filters, so the output has depth {k}: {out_h}x{out_w}x{k} (H2 x W2 x K)",
            receptive_explain(plan),
            f"sharing: a dense layer from {_volume(plan.input_shape)} to {_volume(plan.output_shape)} "
            f"would need {plan.dense_equivalent_params:,} parameters; the convolution needs "
            f"{plan.params:,}. It saves parameters, not work: each filter is used at all "
            f"{out_h}*{out_w} = {positions:,} positions, {plan.macs:,} multiply-adds against the "
            f"dense layer's {plan.dense_equivalent_params:,}",
            "computes cross-correlation (out[k,y,x] = sum over c,i,j of w[k,c,i,j] * "
            "x[c, y*S + i, x*S + j] + b, the kernel not flipped); the backward pass for the input "
            "is a full convolution of the output gradient with the kernel flipped 180 degrees",
        ]
        return "\n".join(line for line in lines if line)

    def scratch(self, plan: LayerPlan) -> tuple[int, str, str]:
        # the engine gathers every window of a sample before its GEMM
        _, c, kh, kw = plan.param_shapes["weight"]
        rows = c * kh * kw + 1
        return (rows * plan.output_shape[1] * plan.output_shape[2] * BYTES_PER_VALUE,
                f"gathering its {kh}x{kw}x{c} windows", "kernel_size")


def _volume(shape) -> str:
    return "x".join(str(n) for n in shape)


class Conv2D(Layer):
    schema = Conv2DSpec

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

    def rectify_input(self) -> None:
        """From now on compute on max(x, 0) instead of x: the kernel applies it as it copies x into
        its zero frame, so a ReLU before this layer costs no pass of its own."""
        self.kernel.rectify_input = True

    def forward(self, x, ctx):
        # out[f, y, x, n] = sum_{c,i,j} weight[f, c, i, j] * x_pad[c, y*s + i*d, x*s + j*d, n] + bias[f]
        return self.kernel.forward(x, self.weight, self.bias)

    def backward(self, grad_out, need_input_grad=True):
        return self.kernel.backward(grad_out, self.weight, self.grads["weight"], self.grads.get("bias"),
                                    need_input_grad)
