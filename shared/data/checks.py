"""Checks every format shares: pixel values, labels, class counts. Each failure names the array and,
where it helps, the first offending sample."""
from __future__ import annotations

from math import prod

import numpy as np

from shared.limits import MAX_IMAGE_VALUES

from .errors import DatasetRejected
from .store import sample_chunks

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _chunks(x: np.ndarray):
    for start, stop in sample_chunks(x):
        yield start, x[start:stop]


def stored_pixel_dtype(x: np.ndarray, loc: list) -> np.dtype:
    """uint8 when every value is a whole number in 0..255 held as an integer type, float32 otherwise.
    Rejects non-numeric dtypes and NaN or infinite values."""
    kind = x.dtype.kind
    if x.dtype == np.uint8:
        return np.dtype(np.uint8)
    if kind in "iu":
        lowest = min((int(chunk.min()) for _, chunk in _chunks(x) if chunk.size), default=0)
        highest = max((int(chunk.max()) for _, chunk in _chunks(x) if chunk.size), default=0)
        return np.dtype(np.uint8 if lowest >= 0 and highest <= 255 else np.float32)
    if kind == "f":
        for start, chunk in _chunks(x):
            bad = ~np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
            if bad.any():
                index = start + int(np.argmax(bad))
                raise DatasetRejected(422, f"image {index} holds NaN or infinite values", loc + [index])
            if chunk.size and float(np.abs(chunk).max()) > _FLOAT32_MAX:
                raise DatasetRejected(422, "pixel values exceed the float32 range", loc)
        return np.dtype(np.float32)
    raise DatasetRejected(422, f"pixel values must be numbers, got dtype {x.dtype}", loc)


def image_shape(x: np.ndarray, loc: list) -> None:
    """Every image has at least one pixel (a zero in C, H or W leaves nothing to learn from) and at most
    MAX_IMAGE_VALUES values."""
    if 0 in x.shape[1:]:
        raise DatasetRejected(422, f"images of shape {list(x.shape[1:])} hold no pixels; every image needs "
                                   f"C, H and W of at least 1", loc)
    image_values_limit(prod(x.shape[1:]), loc)


def image_values_limit(num_values: int, loc: list) -> None:
    if num_values > MAX_IMAGE_VALUES:
        raise DatasetRejected(413, f"each image holds {num_values} values (C*H*W), more than the limit of "
                                   f"{MAX_IMAGE_VALUES}", loc)


def integer_labels(y: np.ndarray, num_images: int, max_classes: int, loc: list) -> np.ndarray:
    """The labels as int64, one per image, each a whole number in 0..max_classes-1."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetRejected(422, f"labels must be one whole number per image, got shape {list(y.shape)} "
                                   f"(one-hot labels: convert them with argmax)", loc)
    if len(y) != num_images:
        raise DatasetRejected(422, f"{num_images} images but {len(y)} labels", loc)
    if y.dtype.kind == "f":
        not_whole = ~np.isfinite(y) | (y != np.round(y))
        if not_whole.any():
            index = int(np.argmax(not_whole))
            raise DatasetRejected(422, f"labels must be whole numbers; label {index} is {y[index]!r}", loc + [index])
    elif y.dtype.kind not in "iu":
        raise DatasetRejected(422, f"labels must be whole numbers, got dtype {y.dtype}", loc)
    if len(y) and y.min() < 0:
        index = int(np.argmax(y < 0))
        raise DatasetRejected(422, f"labels must be 0 or more; label {index} is {y[index]}", loc + [index])
    # Checked before the conversion: a uint64 or float label past int64 would wrap around.
    if len(y) and y.max() >= max_classes:
        index = int(np.argmax(y >= max_classes))
        raise DatasetRejected(422, f"label {index} is {y[index]}, which needs more than the limit of "
                                   f"{max_classes} classes", loc + [index])
    return y.astype(np.int64)


def labels_in_range(y: np.ndarray, num_classes: int, loc: list) -> None:
    if len(y) and y.max() >= num_classes:
        index = int(np.argmax(y >= num_classes))
        raise DatasetRejected(422, f"label {index} is {y[index]}, out of range for {num_classes} classes "
                                   f"(0..{num_classes - 1})", loc + [index])


def sample_limit(num_samples: int, max_samples: int, loc: list) -> None:
    if num_samples > max_samples:
        raise DatasetRejected(413, f"{num_samples} samples is more than the limit of {max_samples}", loc)


def expanded_limit(num_bytes: int, max_bytes: int, loc: list, what: str = "the data") -> None:
    if num_bytes > max_bytes:
        raise DatasetRejected(413, f"{what} expands to {num_bytes} bytes, more than the limit of {max_bytes}", loc)


class ExpansionBudget:
    """Counts the bytes actually expanded (archive members, .gz streams), whatever headers declared."""

    def __init__(self, max_bytes: int, loc: list, what: str = "the upload"):
        self.max_bytes = max_bytes
        self.loc = loc
        self.what = what
        self.used = 0

    def spend(self, num_bytes: int, loc: list | None = None) -> None:
        self.used += num_bytes
        expanded_limit(self.used, self.max_bytes, loc or self.loc, self.what)
