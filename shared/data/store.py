"""A dataset's folder in the artifact store: plain .npy arrays, written atomically, read memory-mapped."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
SAMPLES_DIR = "samples"
# Arrays are converted, checked and summarised this many bytes (as float64) at a time, so no step needs
# a second full copy of a dataset.
CHUNK_BYTES = 8 * 1024 * 1024


def open_arrays(dataset_dir: Path | str) -> dict[str, np.ndarray]:
    """The stored arrays by name, memory-mapped read-only; x_test/y_test only when the dataset has them."""
    dataset_dir = Path(dataset_dir)
    return {name: np.load(dataset_dir / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in ARRAY_NAMES if (dataset_dir / f"{name}.npy").exists()}


@contextmanager
def staged_directory(target_dir: Path) -> Iterator[Path]:
    """Yield an empty sibling folder to build the dataset in; rename it to target_dir only if the block
    finishes, remove it otherwise. target_dir never exists half-written."""
    target_dir = Path(target_dir)
    if target_dir.exists():
        raise FileExistsError(f"dataset folder {target_dir} already exists")
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.staging-", dir=target_dir.parent))
    try:
        yield staging
        os.replace(staging, target_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_array(path: Path, array: np.ndarray, dtype: np.dtype) -> None:
    """Save `array` as a C-ordered .npy of `dtype`, converting a chunk of samples at a time."""
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=array.shape)
    for start, stop in sample_chunks(array):
        stored[start:stop] = array[start:stop]
    stored.flush()
    del stored


def sample_chunks(array: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges of whole samples, each at most CHUNK_BYTES when held as float64."""
    per_sample = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * 8)
    step = max(1, CHUNK_BYTES // per_sample)
    for start in range(0, len(array), step):
        yield start, min(start + step, len(array))


def arrays_sha256(dataset_dir: Path) -> tuple[str, int]:
    """Checksum and total size of the stored .npy files, in ARRAY_NAMES order."""
    digest = hashlib.sha256()
    size = 0
    for name in ARRAY_NAMES:
        path = Path(dataset_dir) / f"{name}.npy"
        if not path.exists():
            continue
        with open(path, "rb") as stored:
            while block := stored.read(1 << 20):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size
