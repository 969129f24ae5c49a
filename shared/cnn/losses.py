"""Losses, each returning (mean loss, gradient of the mean with respect to the prediction)."""
from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
                          ) -> tuple[float, np.ndarray]:
    """Fused softmax and cross-entropy over (N, classes) logits and integer labels.

    The target is q = (1 - e) * onehot(y) + e / classes for label smoothing e (PyTorch's rule);
    loss = mean_n(logsumexp(z_n) - sum_k q_nk z_nk); dz = (softmax(z) - q) / N.
    Shifting by the row maximum keeps exp() from overflowing.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, classes) and labels (N,), got {logits.shape} and {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    batch, classes = logits.shape
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be in [0, {classes - 1}], got {labels.min()}..{labels.max()}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    keep = 1.0 - label_smoothing
    target_term = keep * shifted[rows, labels]
    if label_smoothing:
        target_term = target_term + label_smoothing * shifted.mean(axis=1)
    loss = float(np.mean(np.log(sum_exp[:, 0]) - target_term))
    grad = exp / sum_exp
    if label_smoothing:
        grad -= label_smoothing / classes
    grad[rows, labels] -= keep
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
