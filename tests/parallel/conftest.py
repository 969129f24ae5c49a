"""Networks and batches for the data-parallel tests, and a guard that no shard process outlives a test."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import psutil
import pytest

from worker.training.parallel.segment import PREFIX, SHM_DIR

ROOT = Path(__file__).resolve().parents[2]
LENET = json.loads((ROOT / "examples" / "lenet5.json").read_text())

# Small enough to run many steps quickly; stride, padding and a non-square kernel on purpose.
SMALL_CONV = {"name": "small", "input_shape": [2, 9, 8], "layers": [
    {"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "stride": 2, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 12}, {"type": "tanh"},
    {"type": "dense", "units": 5}]}


def with_layer(definition: dict, position: int, layer: dict) -> dict:
    layers = list(definition["layers"])
    layers.insert(position, layer)
    return {**definition, "layers": layers}


def random_batch(definition: dict, count: int, seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    classes = definition["layers"][-1]["units"]
    x = rng.standard_normal((count, *definition["input_shape"])).astype(dtype)
    y = rng.integers(0, classes, size=count)
    return x, y


def fashion_batch(count: int, dtype=np.float32):
    data = np.load(ROOT / "data" / "fashion-mnist-small.npz")
    return (data["x_train"][:count] / 255).astype(dtype), data["y_train"][:count]


def segments_of(pid: int) -> list[str]:
    return [name for name in os.listdir(SHM_DIR) if name.startswith(f"{PREFIX}{pid}-")]


def shard_processes(pid: int | None = None) -> list[psutil.Process]:
    """Live shard processes started by ``pid`` (default: this process)."""
    parent = psutil.Process(pid or os.getpid())
    return [child for child in parent.children(recursive=True)
            if "worker.training.parallel.shard_process" in " ".join(_cmdline(child))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@pytest.fixture(autouse=True)
def no_shard_process_left():
    """Fails a test that leaves shard processes or segments behind, and kills them either way."""
    yield
    left = shard_processes()
    for process in left:
        process.kill()
    psutil.wait_procs(left, timeout=10)
    assert not left, f"shard processes left running: {[p.pid for p in left]}"
    assert not segments_of(os.getpid()), "shared-memory segments left in /dev/shm"
