"""Loss, accuracy and predictions over a (possibly memory-mapped) split, prepared a chunk at a time so
memory stays bounded by the chunk, not the dataset."""
from __future__ import annotations

from typing import Callable

import numpy as np

from shared.cnn import evaluate
from shared.cnn.metrics import classification_report
from shared.data.pipeline import prepare_batch
from shared.jobs.memory import SCORING_CHUNK_SAMPLES
from shared.misclassified import misclassified_examples

CHUNK_SAMPLES = SCORING_CHUNK_SAMPLES


def score(net, x: np.ndarray, y: np.ndarray, mean, std, indices: np.ndarray | None = None,
          between_chunks: Callable[[], None] | None = None, *, batch_size: int,
          mirror: bool = False) -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, predictions) of `net` on x[indices] (all of x when indices is None), run
    `batch_size` images at a time, averaged with each image's mirror image when `mirror`.
    `between_chunks` runs after each chunk (heartbeat, cancel check)."""
    count = len(y) if indices is None else len(indices)
    loss_sum, correct = 0.0, 0
    predictions = np.empty(count, dtype=np.int64)
    for start in range(0, count, CHUNK_SAMPLES):
        stop = min(start + CHUNK_SAMPLES, count)
        chosen = slice(start, stop) if indices is None else indices[start:stop]
        batch = prepare_batch(x[chosen], mean, std)
        labels = np.asarray(y[chosen])
        loss, accuracy, predicted = evaluate(net, batch, labels, batch_size=batch_size, mirror=mirror)
        loss_sum += float(loss) * (stop - start)
        correct += int(round(float(accuracy) * (stop - start)))
        predictions[start:stop] = predicted
        if between_chunks:
            between_chunks()
    return loss_sum / count, correct / count, predictions


def split_report(net, x: np.ndarray, y: np.ndarray, mean, std, class_names: list[str], split: str,
                 between_chunks: Callable[[], None] | None = None, *, batch_size: int,
                 mirror: bool = False) -> dict:
    """The stored evaluation of one split: loss, accuracy, per-class scores, the confusion matrix and a few
    indices of the split's samples in each of its off-diagonal cells."""
    loss, accuracy, predictions = score(net, x, y, mean, std, between_chunks=between_chunks,
                                        batch_size=batch_size, mirror=mirror)
    report = classification_report(np.asarray(y), predictions, len(class_names), class_names)
    return {"split": split, "loss": loss, "accuracy": accuracy, "num_samples": int(len(y)),
            "test_time_flip": mirror, **report,
            "misclassified": misclassified_examples(np.asarray(y), predictions)}
