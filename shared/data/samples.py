"""A few small PNGs per class, so a person can see what was uploaded."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES_PER_CLASS = 4
THUMBNAIL_SIZE = (64, 64)


def write_samples(folder: Path, x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    """samples/<class index>_<k>.png: the first SAMPLES_PER_CLASS images of each class, at most 64x64."""
    folder.mkdir()
    for label in range(num_classes):
        for k, index in enumerate(np.flatnonzero(y == label)[:SAMPLES_PER_CLASS]):
            picture(x[index]).save(folder / f"{label}_{k}.png", optimize=True)


def picture(image: np.ndarray) -> Image.Image:
    """One CHW image as a grey (C=1) or RGB (C>=3, first three channels) picture."""
    image = np.asarray(image)
    if image.dtype != np.uint8:  # floats of any range: stretch to 0..255
        low, high = float(image.min()), float(image.max())
        image = ((image - low) / (high - low or 1) * 255).round().astype(np.uint8)
    pixels = image[0] if image.shape[0] < 3 else image[:3].transpose(1, 2, 0)
    result = Image.fromarray(np.ascontiguousarray(pixels))
    result.thumbnail(THUMBNAIL_SIZE)
    return result
