"""From stored arrays to training batches: a seeded validation split, a per-epoch order, normalisation
and augmentation. Everything is a pure function of its seed, so a resumed job sees the same batches."""
from __future__ import annotations

from typing import Sequence

import numpy as np

AUGMENT_KEYS = {"crop_padding", "flip", "erase"}
# Random erasing draws its rectangle as torchvision's RandomErasing does: this share of the image
# area, this aspect ratio (log-uniform), up to ERASE_ATTEMPTS tries for one that fits.
ERASE_SCALE, ERASE_RATIO, ERASE_ATTEMPTS = (0.02, 0.33), (0.3, 3.3), 10
# Separate random streams per purpose, so changing the split never changes the augmentation.
_SPLIT_STREAM, _EPOCH_STREAM = 0, 1


def held_out_count(num_samples: int, validation_split: float) -> int:
    """How many of `num_samples` a validation split holds out."""
    return int(round(num_samples * validation_split))


def split_indices(num_samples: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), both sorted int64; val gets held_out_count(...) samples."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    num_val = held_out_count(num_samples, validation_split)
    if num_samples - num_val < 1:
        raise ValueError(f"validation_split {validation_split} leaves no training samples out of {num_samples}")
    order = np.random.default_rng([seed, _SPLIT_STREAM]).permutation(num_samples)
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def epoch_order(train_idx: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """The order `train_idx` is visited in during `epoch`: the same for the same (seed, epoch)."""
    rng = np.random.default_rng([seed, _EPOCH_STREAM, epoch])
    return np.asarray(train_idx)[rng.permutation(len(train_idx))]


def divisor_std(std: Sequence[float], dtype: str = "float32") -> np.ndarray:
    """The per-channel std a batch is divided by: a constant channel (std 0) is only centred."""
    std = np.asarray(std, dtype=dtype)
    return np.where(std > 0, std, 1).astype(dtype)


def prepare_batch(x: np.ndarray, mean: Sequence[float], std: Sequence[float], dtype: str = "float32",
                  augment: dict | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """A batch (N, C, H, W) as the network sees it: scaled to [0, 1] if uint8, augmented if asked,
    then (x - mean[c]) / std[c]. Padding for the random crop is black, as torchvision's RandomCrop;
    erased rectangles are 0 after normalisation (the mean), as RandomErasing after Normalize."""
    batch = np.asarray(x).astype(dtype)
    if np.asarray(x).dtype == np.uint8:
        batch /= 255
    if augment:
        unknown = set(augment) - AUGMENT_KEYS
        if unknown:
            raise ValueError(f"unknown augmentation {sorted(unknown)}; known: {sorted(AUGMENT_KEYS)}")
        if rng is None:
            raise ValueError("augmentation needs a random generator (rng)")
        padding = int(augment.get("crop_padding", 0))
        if padding:
            batch = random_crop(batch, padding, rng)
        if augment.get("flip"):
            batch = random_flip(batch, rng)
    mean = np.asarray(mean, dtype=dtype).reshape(1, -1, 1, 1)
    std = divisor_std(std, dtype).reshape(1, -1, 1, 1)
    batch -= mean
    batch /= std
    if augment and augment.get("erase"):
        batch = random_erase(batch, float(augment["erase"]), rng)
    return batch


def random_crop(batch: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Pad each image by `padding` zeros on every side and cut an HxW window at a random offset."""
    n, _, height, width = batch.shape
    padded = np.pad(batch, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    top = rng.integers(0, 2 * padding + 1, size=n)
    left = rng.integers(0, 2 * padding + 1, size=n)
    rows = (top[:, None] + np.arange(height))[:, None, :, None]
    cols = (left[:, None] + np.arange(width))[:, None, None, :]
    return padded[np.arange(n)[:, None, None, None], np.arange(batch.shape[1])[None, :, None, None], rows, cols]


def random_flip(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image left-right with probability 1/2."""
    flipped = rng.random(len(batch)) < 0.5
    batch[flipped] = batch[flipped, :, :, ::-1]
    return batch


def random_erase(batch: np.ndarray, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Set one random rectangle of each image to 0 with ``probability`` (all channels)."""
    n, _, height, width = batch.shape
    area = height * width
    for index in np.flatnonzero(rng.random(n) < probability):
        for _ in range(ERASE_ATTEMPTS):
            target = area * rng.uniform(*ERASE_SCALE)
            ratio = np.exp(rng.uniform(np.log(ERASE_RATIO[0]), np.log(ERASE_RATIO[1])))
            h, w = int(round(np.sqrt(target * ratio))), int(round(np.sqrt(target / ratio)))
            if 0 < h < height and 0 < w < width:
                top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
                batch[index, :, top:top + h, left:left + w] = 0
                break
    return batch
