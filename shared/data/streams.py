"""Filling an array from a stream in bounded blocks: decompressing streams (gzip, zip members) implement
readinto by reading a whole bytes object first, which would briefly double a large array."""
from __future__ import annotations

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
