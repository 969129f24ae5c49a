"""Copying a layer's input into the zero-framed buffer its convolution reads.

Feature maps are (C, H, W, N): at every position a run of N images. A copy that rearranges
positions (into a frame, a parity layout, a map from tiles) moves runs of 16-32 values when N
is 16-32, and NumPy's copy loop pays its overhead on every run: moving each run as one element
of N values' bytes (a void dtype) copies a 32x32x32 map of 16 images into the parity layout in
121 us instead of 251. And ``np.maximum(x, 0)`` takes NumPy's slow path for a scalar (256 us
over 524,288 values); against a row of zeros it takes the vectorised one (85 us).
"""
from __future__ import annotations

import functools

import numpy as np


def copy_in(target: np.ndarray, x: np.ndarray, rectified: bool) -> None:
    """``target[...] = x``, or ``max(x, 0)`` when the ReLU before the layer is fused into it
    (``Network`` does so: the copy is made anyway, so the ReLU's own pass over the map is saved)."""
    if rectified:
        rectify(x, target)
    else:
        copy_runs(target, x)


def copy_runs(target: np.ndarray, x: np.ndarray) -> None:
    """``target[...] = x``, each run along the last axis moved as one element when both arrays
    hold those runs contiguously and neither runs on into the next position."""
    np.copyto(*as_runs(target, x))


def as_runs(target: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``target`` and ``x`` as ``copy_runs`` copies them (for a copy prepared once, run often):
    as arrays of runs where it can, else as they are."""
    if (x.dtype == target.dtype and x.shape == target.shape and x.ndim > 1 and x.shape[-1] > 1
            and x.strides[-1] == target.strides[-1] == x.itemsize
            and not x.strides[-2] == target.strides[-2] == x.itemsize * x.shape[-1]):
        run = np.dtype((np.void, x.shape[-1] * x.itemsize))
        return target.view(run)[..., 0], x.view(run)[..., 0]
    return target, x


# The longest row of zeros kept for ``rectify``: long enough that NumPy's per-row overhead
# does not count, small enough to keep a few.
ZERO_ROW_VALUES = 2**14


def rectify(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = max(x, 0)`` (``x`` may be ``out``), against a row of zeros over as many
    trailing axes as both hold contiguously and fit ``ZERO_ROW_VALUES``."""
    axes = min(_contiguous_axes(x), _contiguous_axes(out))
    return np.maximum(x, _zeros(x.shape[x.ndim - axes:], x.dtype) if axes else 0, out=out)


def _contiguous_axes(a: np.ndarray) -> int:
    axes, values = 0, 1
    for size, step in zip(reversed(a.shape), reversed(a.strides)):
        if (size != 1 and step != values * a.itemsize) or values * size > ZERO_ROW_VALUES:
            break
        axes, values = axes + 1, values * size
    return axes


@functools.lru_cache(maxsize=64)
def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros
