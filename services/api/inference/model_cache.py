"""Loaded models kept per API process, least recently used first out, bounded by their bytes.

A model is keyed by id and file checksum, so a replaced file is loaded afresh. Its file comes from the
artifact store: read in place from a local folder, downloaded to a scratch file (removed once loaded)
from a remote one. The engine's layers
reuse scratch buffers between calls, so each entry has a lock: one forward pass at a time per model.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from shared.cnn import load_model
from shared.inference.prediction import trained_with_test_time_flip
from shared.storage import ArtifactStore, ObjectMissing
from shared.storage.files import fetched


@dataclass
class LoadedModel:
    net: object
    metadata: dict
    nbytes: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    extras: dict = field(default_factory=dict)  # things derived once per model (e.g. its layer chain)

    @property
    def mean(self) -> list[float]:
        return self.metadata["mean"]

    @property
    def std(self) -> list[float]:
        return self.metadata["std"]

    @property
    def test_time_flip(self) -> bool:
        return trained_with_test_time_flip(self.metadata)

    @property
    def class_names(self) -> list[str]:
        names = self.metadata.get("class_names")
        outputs = self.net.summary.plans[-1].output_shape[0]
        return list(names) if names and len(names) == outputs else [str(label) for label in range(outputs)]


class ModelCache:
    def __init__(self, store: ArtifactStore, scratch: Path, max_bytes: int):
        self.store = store
        self.scratch = scratch
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times a file was read (a cache miss)

    def get(self, model_id: int, sha256: str, object_key: str) -> LoadedModel:
        """The model stored under `object_key`; raises ObjectMissing when the object is gone."""
        key = (model_id, sha256)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        with fetched(self.store, object_key, self.scratch) as path:
            if not path.is_file():
                raise ObjectMissing(f"no object {object_key} in {self.store.location}")
            net, metadata = load_model(path)
        entry = LoadedModel(net, metadata, sum(array.nbytes for array in net.state_arrays().values()))
        with self._lock:
            self.loads += 1
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > 1 and self.total_bytes() > self.max_bytes:
                self._entries.popitem(last=False)
        return entry

    def total_bytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
