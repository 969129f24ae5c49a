"""Which samples fell in each off-diagonal cell of a confusion matrix: a few indices per cell (indices
into the evaluated split, not copies of the images), so a person can look at the mistakes."""
from __future__ import annotations

import numpy as np

MISCLASSIFIED_PER_CELL = 8


def misclassified_examples(y_true: np.ndarray, y_pred: np.ndarray, per_cell: int = MISCLASSIFIED_PER_CELL
                           ) -> list[dict]:
    """[{"true": t, "predicted": p, "indices": [first per_cell sample indices]}] for every cell t != p
    with samples, in (t, p) order."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    wrong = np.flatnonzero(y_true != y_pred)
    cells: dict[tuple[int, int], list[int]] = {}
    for index in wrong:  # at most the number of mistakes, each O(1)
        indices = cells.setdefault((int(y_true[index]), int(y_pred[index])), [])
        if len(indices) < per_cell:
            indices.append(int(index))
    return [{"true": true, "predicted": predicted, "indices": indices}
            for (true, predicted), indices in sorted(cells.items())]
