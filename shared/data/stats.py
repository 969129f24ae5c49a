"""Per-channel mean and standard deviation of x_train scaled to [0, 1] (uint8 / 255; floats as stored)."""
from __future__ import annotations

import numpy as np

from .store import sample_chunks


def channel_mean_std(x: np.ndarray, stored_dtype: np.dtype) -> tuple[list[float], list[float]]:
    """Chunk by chunk, merging (count, mean, M2) per channel (Chan et al.), so no float copy of x is made
    and large values do not lose precision as a plain sum of squares would."""
    channels = x.shape[1]
    count, mean, m2 = 0, np.zeros(channels), np.zeros(channels)
    scale = 1 / 255 if stored_dtype == np.uint8 else 1.0
    for start, stop in sample_chunks(x):
        chunk = x[start:stop].astype(np.float64)  # the one buffer this loop uses
        chunk *= scale
        chunk_count = chunk.size // channels
        chunk_mean = chunk.mean(axis=(0, 2, 3))
        chunk -= chunk_mean[None, :, None, None]
        np.square(chunk, out=chunk)
        chunk_m2 = chunk.sum(axis=(0, 2, 3))
        total = count + chunk_count
        delta = chunk_mean - mean
        mean = mean + delta * chunk_count / total
        m2 = m2 + chunk_m2 + delta**2 * count * chunk_count / total
        count = total
    std = np.sqrt(m2 / max(count, 1))
    return [float(value) for value in mean], [float(value) for value in std]
