"""Classification metrics from true and predicted labels: accuracy, per-class precision, recall and F1,
macro F1 and the confusion matrix (rows are the true class, columns the predicted class)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[t, p] = how many samples of true class t were predicted as p."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {y_true.shape} and {y_pred.shape}")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside 0..{num_classes - 1}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                          class_names: Sequence[str] | None = None) -> dict:
    """JSON-ready metrics. A class never predicted has precision 0, one never present has recall 0
    (scikit-learn's zero_division=0); macro F1 averages over all num_classes classes."""
    counts = confusion_matrix(y_true, y_pred, num_classes)
    names = list(class_names) if class_names is not None else [str(label) for label in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    correct = np.diag(counts).astype(np.float64)
    predicted = counts.sum(axis=0)  # column sums
    support = counts.sum(axis=1)  # row sums
    precision = np.divide(correct, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(correct, support, out=np.zeros(num_classes), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(num_classes), where=both > 0)
    total = int(counts.sum())
    return {
        "accuracy": float(correct.sum() / total) if total else 0.0,
        "per_class": [{"name": names[label], "precision": float(precision[label]), "recall": float(recall[label]),
                       "f1": float(f1[label]), "support": int(support[label])} for label in range(num_classes)],
        "macro_f1": float(f1.mean()) if num_classes else 0.0,
        "confusion_matrix": counts.tolist(),
    }
