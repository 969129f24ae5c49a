"""Copying a layer's input into the zero-framed buffer its convolution reads."""
from __future__ import annotations

import numpy as np


def copy_in(target: np.ndarray, x: np.ndarray, rectify: bool) -> None:
    """``target[...] = x``, or ``max(x, 0)`` when the ReLU before the layer is fused into it
    (``Network`` does so: the copy is made anyway, so the ReLU's own pass over the map is saved)."""
    if rectify:
        np.maximum(x, 0, out=target)
    else:
        np.copyto(target, x)
