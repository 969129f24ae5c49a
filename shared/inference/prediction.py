"""Class probabilities and the top classes for raw samples, normalised as the model was trained.

Samples are what a dataset stores: uint8 pixels (scaled to [0, 1]) or float32 values (as given);
``prepare_batch`` then applies the model's stored mean and std, exactly as evaluate jobs do.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from shared.cnn.training import mirrored_forward
from shared.data.pipeline import prepare_batch


def trained_with_test_time_flip(metadata: dict) -> bool:
    """Whether a model file's train job scored it with its mirror images (older files do not say: no)."""
    return bool(metadata.get("test_time_flip", False))


def model_logits(net, samples: np.ndarray, mean: Sequence[float], std: Sequence[float],
                 mirror: bool = False) -> np.ndarray:
    """The outputs for the samples; with `mirror` (a model trained with test_time_flip), averaged with
    their mirror images' outputs, as its evaluate jobs score it."""
    batch = prepare_batch(samples, mean, std)
    return mirrored_forward(net, batch) if mirror else net.forward(batch, training=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def top_classes(logits: np.ndarray, class_names: Sequence[str], k: int) -> list[list[dict]]:
    """For each sample, its k most likely classes, best first. The order comes from the logits (ties
    to the lower class index), so the first is always the argmax an evaluate job counts."""
    probabilities = softmax(logits)
    order = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return [[{"class_index": int(label), "class_name": class_names[label],
              "probability": float(probabilities[row, label])} for label in labels]
            for row, labels in enumerate(order)]
