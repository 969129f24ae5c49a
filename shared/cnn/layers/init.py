"""Weight initialisation: He (for ReLU networks) and Xavier/Glorot (for tanh and sigmoid)."""
from __future__ import annotations

import math

import numpy as np


def initial_weight(rng: np.random.Generator, scheme: str, shape: tuple[int, ...], fan_in: int,
                   fan_out: int) -> np.ndarray:
    # He: std = sqrt(2 / fan_in); Xavier: std = sqrt(2 / (fan_in + fan_out)).
    std = math.sqrt(2.0 / fan_in) if scheme == "he" else math.sqrt(2.0 / (fan_in + fan_out))
    return rng.standard_normal(shape) * std
