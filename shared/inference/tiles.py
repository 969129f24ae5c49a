"""Feature maps and kernels as small PNG images: each channel stretched to 0..255 on its own."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def stretch(values: np.ndarray) -> np.ndarray:
    """Values to uint8, lowest -> 0 and highest -> 255; a constant map is mid-grey."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if high - low <= 0:
        return np.full(values.shape, 128, dtype=np.uint8)
    return np.round((values - low) * (255 / (high - low))).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """(H, W) grey or (H, W, 3) RGB uint8 -> PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def channel_tiles(feature_map: np.ndarray) -> list[str]:
    """(C, H, W) -> one grey PNG per channel; (F,) -> one 1xF strip."""
    if feature_map.ndim == 1:
        return [data_url(png_bytes(stretch(feature_map)[None, :]))]
    return [data_url(png_bytes(stretch(channel))) for channel in feature_map]


def kernel_tiles(weight: np.ndarray) -> list[str]:
    """Conv weights (out, in, kh, kw) -> one PNG per filter: RGB when it reads 3 channels, otherwise
    grey, the input channels side by side."""
    tiles = []
    for kernel in weight:
        if kernel.shape[0] == 3:
            tiles.append(data_url(png_bytes(stretch(kernel).transpose(1, 2, 0))))
        else:
            tiles.append(data_url(png_bytes(stretch(np.concatenate(list(kernel), axis=1)))))
    return tiles
