"""What every format reader returns: arrays already in NCHW order (views where possible, not copies)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SourceArrays:
    x_train: np.ndarray  # (N, C, H, W), any real dtype; converted to the stored dtype while writing
    y_train: np.ndarray  # (N,)
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] | None = None
    # Where each array came from in the upload, for error messages: {"x_train": ["file", "x_train"], ...}
    locs: dict[str, list] = field(default_factory=dict)

    def loc(self, name: str) -> list:
        return self.locs.get(name, [name])
