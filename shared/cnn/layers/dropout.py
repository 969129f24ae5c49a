"""Inverted dropout whose mask is a pure function of (seed, layer, sample id, element).

A sample keeps the same mask whichever process or shard computes it, so a data-parallel run
matches a single-process run for the same seed. The mask comes from a counter-based hash
(splitmix64's finaliser), vectorised over the whole batch.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from .base import Layer
from .spec import LayerSpec
from ..json_types import Number

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def keep_mask(seed: int, layer_index: int, sample_ids: np.ndarray, per_sample: int, rate: float
              ) -> np.ndarray:
    """(per_sample, batch) booleans: True where the element is kept."""
    key = _mix(np.array([seed * 1_000_003 + layer_index], dtype=np.uint64))
    sample_keys = _mix(key ^ (sample_ids.astype(np.uint64) * _GOLDEN))
    element_keys = np.arange(per_sample, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    with np.errstate(over="ignore"):
        bits = _mix(element_keys[:, None] ^ sample_keys[None, :])
    threshold = np.uint64(min(int(rate * 2.0**64), 2**64 - 1))
    return bits >= threshold


class DropoutSpec(LayerSpec):
    type: Literal["dropout"]
    rate: Annotated[Number, Field(ge=0, lt=1)] = 0.5
    title = "Dropout"

    def value_rule(self) -> str:
        return (f"in training each value is zeroed with probability {self.rate} and the rest "
                f"scaled by 1/(1 - {self.rate}); unchanged in evaluation")


class Dropout(Layer):
    schema = DropoutSpec

    def forward(self, x, ctx):
        # training: out = x * keep / (1 - rate); evaluation: out = x
        rate = self.plan.spec.rate
        if not ctx.training or rate == 0:
            self.scale = None
            return x
        batch = x.shape[-1]
        keep = keep_mask(ctx.seed, self.plan.index, ctx.sample_ids, x.size // batch, rate)
        self.scale = keep.reshape(x.shape).astype(x.dtype) * (1.0 / (1.0 - rate))
        return x * self.scale

    def backward(self, grad_out, need_input_grad=True):
        return grad_out if self.scale is None else grad_out * self.scale
