"""Rebuild data/fashion-mnist-small.npz, the class-balanced Fashion-MNIST subset bundled for `make run`.

Reads Debian's dataset-fashion-mnist IDX files (apt-get install dataset-fashion-mnist) and keeps the
first TRAIN_PER_CLASS training and TEST_PER_CLASS test images of each class, in file order.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from shared.data.idx import load_idx

SOURCE = Path("/usr/share/datasets/fashion-mnist")
TARGET = Path(__file__).with_name("fashion-mnist-small.npz")
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def balanced(images: np.ndarray, labels: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(CLASSES))]))
    return images[keep][:, None, :, :], labels[keep].astype(np.int64)


def main() -> int:
    x_train, y_train = balanced(load_idx(SOURCE / "train-images-idx3-ubyte.gz"),
                                load_idx(SOURCE / "train-labels-idx1-ubyte.gz"), TRAIN_PER_CLASS)
    x_test, y_test = balanced(load_idx(SOURCE / "t10k-images-idx3-ubyte.gz"),
                              load_idx(SOURCE / "t10k-labels-idx1-ubyte.gz"), TEST_PER_CLASS)
    np.savez_compressed(TARGET, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                        classes=np.array(CLASSES))
    print(f"wrote {TARGET}: train {x_train.shape}, test {x_test.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
