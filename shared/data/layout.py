"""Bringing image arrays to NCHW, the engine's order, as views (no copy)."""
from __future__ import annotations

import numpy as np

from .errors import DatasetRejected

# Channel counts that make an axis look like the channel axis when the layout is "auto".
_CHANNEL_COUNTS = (1, 3)


def to_nchw(x: np.ndarray, layout: str, loc: list, input_shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """(N, H, W) gains C=1; (N, C, H, W) or (N, H, W, C) per `layout` ("auto" decides when only one
    axis can hold channels); (N, D) is reshaped to input_shape, which must then be given."""
    if x.ndim == 2:
        if input_shape is None:
            raise DatasetRejected(422, f"images are flat, shape {list(x.shape)}; give input_shape C,H,W", loc)
        if int(np.prod(input_shape)) != x.shape[1]:
            raise DatasetRejected(422, f"input_shape {list(input_shape)} holds {int(np.prod(input_shape))} values "
                                       f"but each image has {x.shape[1]}", loc)
        channels, height, width = input_shape
        shape = (channels, height, width) if layout != "nhwc" else (height, width, channels)
        x = x.reshape((len(x),) + shape)
        return x.transpose(0, 3, 1, 2) if layout == "nhwc" else x
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim != 4:
        raise DatasetRejected(422, f"images must have 3 or 4 dimensions (N,H,W or N,C,H,W or N,H,W,C), "
                                   f"got shape {list(x.shape)}", loc)
    if layout == "auto":
        first, last = x.shape[1] in _CHANNEL_COUNTS, x.shape[3] in _CHANNEL_COUNTS
        if first and last and (x.shape[1] == 1) != (x.shape[3] == 1):
            first, last = x.shape[1] == 1, x.shape[3] == 1  # grey wins: one-pixel-high images are unlikely
        if first == last:
            raise DatasetRejected(422, f"cannot tell whether shape {list(x.shape)} is NCHW or NHWC; "
                                       f"give layout nchw or nhwc", loc)
        layout = "nchw" if first else "nhwc"
    return x.transpose(0, 3, 1, 2) if layout == "nhwc" else x
