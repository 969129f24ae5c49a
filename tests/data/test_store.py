from __future__ import annotations

import numpy as np

from shared.data.store import open_arrays


def test_open_arrays_memory_maps_read_only_and_lists_only_what_exists(workspace, rng):
    path = workspace.path("d.npz")
    np.savez(path, x=rng.integers(0, 256, (5, 1, 3, 3), dtype=np.uint8), y=np.arange(5))
    _, target = workspace.ingest({"file": path})
    arrays = open_arrays(target)
    assert sorted(arrays) == ["x_train", "y_train"]
    assert isinstance(arrays["x_train"], np.memmap) and not arrays["x_train"].flags.writeable
    assert arrays["x_train"].flags.c_contiguous
