"""Checkpoints: a nested state (dicts, lists, NumPy arrays, JSON scalars) in one `.npz`, written to a
temporary file and moved into place with os.replace, so a reader sees the old or the new file, never half.

Arrays are stored as npz members `a0, a1, ...`; the tree around them is JSON in the member `tree`, with
each array replaced by {"__array__": "a<k>"}. Loading uses allow_pickle=False.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ARRAY_KEY = "__array__"


def save_checkpoint(path: Path, state: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    with open(partial, "wb") as handle:
        np.savez(handle, tree=np.array(json.dumps(tree)), **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def load_checkpoint(path: Path) -> dict | None:
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "tree"}
        tree = json.loads(str(archive["tree"]))
    return _decode(tree, arrays)


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {ARRAY_KEY: name}
    if isinstance(value, dict):
        return {str(key): _encode(item, arrays) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item, arrays) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {ARRAY_KEY}:
            return arrays[value[ARRAY_KEY]]
        return {key: _decode(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    return value
