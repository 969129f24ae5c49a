"""What every layer shares.

Inside the engine a feature map is laid out (channels, height, width, batch) and a flat
activation (features, batch): with the batch innermost, every kernel-offset slice copies
contiguous runs and each layer is one GEMM over all images. ``Network`` converts from and to
NCHW at its edges, so this layout never shows outside.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .plan import LayerPlan
from .spec import LayerSpec


@dataclass
class ForwardContext:
    training: bool
    sample_ids: np.ndarray | None  # global index of each image in the batch (dropout masks)
    seed: int


class Layer:
    schema: ClassVar[type[LayerSpec]]  # the definition schema of the layer type this class computes

    def __init__(self, plan: LayerPlan, dtype: np.dtype, rng: np.random.Generator | None = None):
        self.plan = plan
        self.name = plan.name
        self.dtype = np.dtype(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    def workspace(self, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A scratch array kept between steps: reusing it avoids faulting in fresh pages for
        every multi-megabyte buffer on every step. Contents are whatever was left in it."""
        buffers = self.__dict__.setdefault("_workspaces", {})
        array = buffers.get(key)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = buffers[key] = np.empty(shape, dtype=dtype)
        return array

    def add_param(self, key: str, value: np.ndarray) -> np.ndarray:
        self.params[key] = np.ascontiguousarray(value, dtype=self.dtype)
        self.grads[key] = np.zeros_like(self.params[key])
        return self.params[key]

    def forward(self, x: np.ndarray, ctx: ForwardContext) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """The gradient with respect to the input; ``grad_out`` belongs to the engine and may be
        overwritten."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.plan.input_shape} -> {self.plan.output_shape})"


def gather_state(layers, params: dict, grads: dict, buffers: dict) -> None:
    """Each layer's parameters, gradients and buffers under ``"<layer>.<key>"``: the live arrays,
    so an optimizer updating ``params`` updates the layers."""
    for layer in layers:
        for key, value in layer.params.items():
            params[f"{layer.name}.{key}"] = value
            grads[f"{layer.name}.{key}"] = layer.grads[key]
        for key, value in layer.buffers.items():
            buffers[f"{layer.name}.{key}"] = value


def per_channel(vector: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast over (C, H, W, N) or (F, N)."""
    return vector.reshape((-1,) + (1,) * (ndim - 1))


def window_slice(offset: int, dilation: int, stride: int, count: int) -> slice:
    """The padded-input rows (or columns) that kernel offset ``offset`` reads for all outputs."""
    start = offset * dilation
    return slice(start, start + stride * (count - 1) + 1, stride)


def pad_feature_map(x: np.ndarray, padding: tuple[int, int, int, int], value: float = 0.0,
                    layer: Layer | None = None) -> np.ndarray:
    top, bottom, left, right = padding
    if not any(padding):
        return x
    c, h, w, n = x.shape
    shape = (c, h + top + bottom, w + left + right, n)
    padded = layer.workspace("padded_input", shape, x.dtype) if layer else np.empty(shape, x.dtype)
    padded[:, :top] = value
    padded[:, top + h:] = value
    padded[:, top:top + h, :left] = value
    padded[:, top:top + h, left + w:] = value
    padded[:, top:top + h, left:left + w] = x
    return padded


def unpad_feature_map(x_pad: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    top, bottom, left, right = padding
    return x_pad[:, top:x_pad.shape[1] - bottom, left:x_pad.shape[2] - right]
