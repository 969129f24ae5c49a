"""A worker's local copies of datasets, keyed by content hash, so a dataset is downloaded once per
machine, not once per job, and read memory-mapped.

    <DATASET_CACHE_DIR>/<sha256>/x_train.npy ...    one complete, verified dataset
    <DATASET_CACHE_DIR>/<sha256>.use                 shared lock held by each job using it
    <DATASET_CACHE_DIR>/<sha256>.fetch               exclusive lock: one process checks or downloads it
    <DATASET_CACHE_DIR>/.tmp-*                       a download in progress, renamed into place when verified

Safe for several jobs on one machine: a download lands in a temporary folder and is renamed into place
only once its checksum matches the dataset row's; a job holds a shared lock on the entry while it uses
it and eviction takes it exclusively without waiting, so an entry in use is never evicted. An entry
whose checksum no longer matches (a damaged disk, a stray write) is moved away and fetched again.
Least recently used entries (by the folder's mtime, touched on each use) are evicted above
DATASET_CACHE_BYTES.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from shared.config import Settings
from shared.data.store import ARRAY_NAMES, arrays_sha256, open_arrays
from shared.storage import ArtifactStore
from worker import metrics
from worker.lifecycle.errors import JobFailed

log = logging.getLogger(__name__)

# A temporary folder older than this belongs to a download that died with its worker.
STALE_SECONDS = 3600


class DatasetCache:
    def __init__(self, store: ArtifactStore, root: Path, max_bytes: int):
        self.store = store
        self.root = Path(root)
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Settings, store: ArtifactStore) -> "DatasetCache":
        return cls(store, settings.dataset_cache_dir, settings.dataset_cache_bytes)

    @contextmanager
    def open(self, dataset_path: str, sha256: str) -> Iterator[dict[str, np.ndarray]]:
        """The dataset's arrays, memory-mapped, for the duration of the block. A local store is read in
        place; a remote one through the cache."""
        local = self.store.local_path(dataset_path)
        if local is not None:
            yield open_arrays(local)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / f"{sha256}.use", fcntl.LOCK_SH):
            entry = self._ensure(dataset_path, sha256)
            arrays = open_arrays(entry)
            now = time.time_ns()  # explicit: the file system's own "now" may be coarser than a job's pace
            os.utime(entry, ns=(now, now))  # most recently used
            self.evict(keep=sha256)
            yield arrays

    def _ensure(self, dataset_path: str, sha256: str) -> Path:
        entry = self.root / sha256
        with _locked(self.root / f"{sha256}.fetch", fcntl.LOCK_EX):
            if entry.is_dir():
                found, size = arrays_sha256(entry)
                if found == sha256:
                    metrics.CACHE_LOOKUPS.labels("hit").inc()
                    metrics.CACHE_HIT_BYTES.inc(size)
                    return entry
                metrics.CACHE_LOOKUPS.labels("corrupt").inc()
                log.warning("cached dataset %s has checksum %s; fetching it again", sha256, found)
                _remove(entry, self.root)
            else:
                metrics.CACHE_LOOKUPS.labels("miss").inc()
            self._fetch(dataset_path, sha256, entry)
        return entry

    def _fetch(self, dataset_path: str, sha256: str, entry: Path) -> None:
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            stored = set(self.store.keys(f"{dataset_path}/"))
            for name in ARRAY_NAMES:
                key = f"{dataset_path}/{name}.npy"
                if key in stored:
                    self.store.get_file(key, staging / f"{name}.npy")
            found, size = arrays_sha256(staging)
            if found != sha256:
                raise JobFailed(f"the dataset at {dataset_path} in the artifact store has checksum {found}, "
                                f"not {sha256} as recorded; upload it again")
            os.replace(staging, entry)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        metrics.CACHE_FETCHED_BYTES.inc(size)
        log.info("dataset %s fetched into the cache: %.1f MB in %.2fs", sha256[:12], size / 1e6,
                 time.monotonic() - started)

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove least recently used entries not in use until the cache fits; returns what was removed."""
        entries = []
        for path in self.root.iterdir():
            if path.name.startswith((".tmp-", ".trash-")):
                if time.time() - path.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir():
                entries.append((path.stat().st_mtime, path.name, _folder_bytes(path)))
        total = sum(size for _mtime, _name, size in entries)
        evicted = []
        for _mtime, name, size in sorted(entries):
            if total <= self.max_bytes:
                break
            if name == keep or not self._evict_unused(name):
                continue
            total -= size
            evicted.append(name)
        metrics.CACHE_SIZE.set(total)
        if total > self.max_bytes:
            log.warning("dataset cache holds %.1f MB, above DATASET_CACHE_BYTES=%d: the rest is in use",
                        total / 1e6, self.max_bytes)
        return evicted

    def _evict_unused(self, name: str) -> bool:
        with open(self.root / f"{name}.use", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a job is using it
            _remove(self.root / name, self.root)
        metrics.CACHE_EVICTED.inc()
        log.info("dataset %s evicted from the cache", name[:12])
        return True


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a+") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove(entry: Path, root: Path) -> None:
    """Rename away first (one step), then delete: nobody ever opens a half-deleted entry. Files already
    memory-mapped by a job stay readable until it closes them."""
    trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=root))
    os.replace(entry, trash / "entry")
    shutil.rmtree(trash, ignore_errors=True)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
