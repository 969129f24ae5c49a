"""The PyTorch CPU side of the speed benchmarks for LeNet-5 (examples/lenet5.json)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.torch_model import torch_step

LENET = json.loads((Path(__file__).resolve().parents[1] / "examples" / "lenet5.json").read_text())


def torch_lenet_step(x: np.ndarray, y: np.ndarray, threads: int):
    """A callable running one training step, or None when torch is not importable."""
    return torch_step(LENET, x, y, threads)
