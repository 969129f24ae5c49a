"""Losses, each returning (mean loss, gradient of the mean with respect to the prediction)."""
from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Fused softmax and cross-entropy over (N, classes) logits and integer labels.

    loss = mean_n(logsumexp(z_n) - z_n[y_n]); dz = (softmax(z) - onehot(y)) / N.
    Shifting by the row maximum keeps exp() from overflowing.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, classes) and labels (N,), got {logits.shape} and {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    batch, classes = logits.shape
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be in [0, {classes - 1}], got {labels.min()}..{labels.max()}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = float(np.mean(np.log(sum_exp[:, 0]) - shifted[rows, labels]))
    grad = exp / sum_exp
    grad[rows, labels] -= 1.0
    grad *= 1.0 / batch
    return loss, grad


def mean_squared_error(prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """loss = mean((p - t)^2) over all elements; dp = 2 (p - t) / size."""
    prediction = np.asarray(prediction)
    target = np.asarray(target, dtype=prediction.dtype)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ in shape")
    diff = prediction - target
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)
