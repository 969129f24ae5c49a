"""Filling an array from a stream in bounded blocks: decompressing streams (gzip, zip members) implement
readinto by reading a whole bytes object first, which would briefly double a large array."""
from __future__ import annotations

import tempfile
from math import prod
from pathlib import Path

import numpy as np

BLOCK_BYTES = 1 << 20


def read_into(stream, array: np.ndarray) -> int:
    """Read into the C-contiguous `array` until it is full or the stream ends; the bytes filled."""
    view = memoryview(array.reshape(-1).view(np.uint8))
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:filled + BLOCK_BYTES])
        if not got:
            break
        filled += got
    return filled


def scratch_array(folder: Path | None, shape, dtype: np.dtype) -> np.ndarray:
    """An empty array to decompress into. With `folder` (the upload's own folder), it is backed by an
    unlinked file there, so what a small compressed upload expands to lives on disk, not in the API's
    memory, and vanishes with the array even if the process dies. Without it, a plain array."""
    dtype = np.dtype(dtype)
    num_bytes = prod(shape) * dtype.itemsize
    if folder is None or num_bytes == 0:
        return np.empty(shape, dtype=dtype)
    with tempfile.TemporaryFile(dir=folder, prefix="expanded-") as backing:
        backing.truncate(num_bytes)
        return np.memmap(backing, dtype=dtype, mode="r+", shape=tuple(shape))
