"""The full Fashion-MNIST as Debian's dataset-fashion-mnist installs it (60,000 / 10,000 IDX .gz)."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from shared.data.store import CHUNK_BYTES, open_arrays
from tests.support.services import require_or_skip

FOLDER = Path("/usr/share/datasets/fashion-mnist")
FILES = {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz",
         "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
IMAGE_BYTES = 70_000 * 28 * 28


@pytest.fixture
def fashion_mnist_parts() -> dict[str, Path]:
    if not all((FOLDER / name).exists() for name in FILES.values()):
        require_or_skip(f"{FOLDER} is missing (apt-get install dataset-fashion-mnist)")
    return {field: FOLDER / name for field, name in FILES.items()}


def test_full_fashion_mnist_is_ingested_with_bounded_memory(workspace, fashion_mnist_parts):
    tracemalloc.start()
    try:
        result, target = workspace.ingest(fashion_mnist_parts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.num_samples, result.num_test_samples, result.input_shape) == (60_000, 10_000, [1, 28, 28])
    assert result.num_classes == 10 and result.class_counts == [6000] * 10
    # The published statistics of Fashion-MNIST's training images.
    assert result.channel_mean == pytest.approx([0.2860], abs=1e-4)
    assert result.channel_std == pytest.approx([0.3530], abs=1e-4)
    arrays = open_arrays(target)
    assert arrays["x_train"].dtype == np.uint8 and arrays["x_test"].shape == (10_000, 1, 28, 28)
    # One copy of the images in memory plus a few chunk buffers, never a second copy.
    assert peak < IMAGE_BYTES + 4 * CHUNK_BYTES, f"peak Python allocations {peak / 1e6:.0f} MB"
