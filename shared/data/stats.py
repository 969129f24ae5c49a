"""Per-channel mean and standard deviation of x_train scaled to [0, 1] (uint8 / 255; floats as stored)."""
from __future__ import annotations

import numpy as np

from .store import CHUNK_SAMPLES


def channel_mean_std(x: np.ndarray, stored_dtype: np.dtype) -> tuple[list[float], list[float]]:
    """Chunk by chunk, merging (count, mean, M2) per channel (Chan et al.), so no float copy of x is made
    and large values do not lose precision as a plain sum of squares would."""
    channels = x.shape[1]
    count, mean, m2 = 0, np.zeros(channels), np.zeros(channels)
    scale = 1 / 255 if stored_dtype == np.uint8 else 1.0
    for start in range(0, len(x), CHUNK_SAMPLES):
        chunk = x[start:start + CHUNK_SAMPLES].astype(np.float64).swapaxes(0, 1).reshape(channels, -1) * scale
        if chunk.shape[1] == 0:
            continue
        chunk_count = chunk.shape[1]
        chunk_mean = chunk.mean(axis=1)
        chunk_m2 = ((chunk - chunk_mean[:, None]) ** 2).sum(axis=1)
        total = count + chunk_count
        delta = chunk_mean - mean
        mean = mean + delta * chunk_count / total
        m2 = m2 + chunk_m2 + delta**2 * count * chunk_count / total
        count = total
    std = np.sqrt(m2 / max(count, 1))
    return [float(value) for value in mean], [float(value) for value in std]
