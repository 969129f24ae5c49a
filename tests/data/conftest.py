from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from shared.data import DatasetRejected, IngestLimits, Upload, ingest

LIMITS = IngestLimits(max_bytes=50_000_000, max_samples=100_000, max_classes=100, max_expanded_bytes=200_000_000)


class Workspace:
    """Input files go in `inputs`; datasets are stored under `store`, which must stay clean on rejection."""

    def __init__(self, root: Path):
        self.inputs = root / "inputs"
        self.store = root / "store"
        self.inputs.mkdir()
        self.store.mkdir()
        self.count = 0

    def path(self, name: str) -> Path:
        return self.inputs / name

    def ingest(self, parts: dict[str, Path], options: dict | None = None, limits: IngestLimits = LIMITS):
        self.count += 1
        target = self.store / f"dataset-{self.count}"
        uploads = [Upload(field, path.name, path) for field, path in parts.items()]
        return ingest(uploads, options or {}, target, limits), target

    def rejected(self, parts: dict[str, Path], options: dict | None = None,
                 limits: IngestLimits = LIMITS) -> DatasetRejected:
        before = sorted(os.listdir(self.store))
        with pytest.raises(DatasetRejected) as caught:
            self.ingest(parts, options, limits)
        assert sorted(os.listdir(self.store)) == before, "a rejected upload left files behind"
        return caught.value


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
