"""Named shared-memory segments: files in /dev/shm mapped by every process of a job.

A segment lives in the file system only while the shard processes attach to it: the parent unlinks
it as soon as all of them have mapped it, and the memory stays valid until the last mapping goes.
So a job killed with SIGKILL after start-up leaves nothing in /dev/shm. For the short window before
that, the name carries the parent's pid: shard processes unlink the segment when they see the parent
die, and `sweep_stale_segments` removes segments whose parent no longer exists.
"""
from __future__ import annotations

import errno
import logging
import mmap
import os
import secrets
import tempfile
from dataclasses import dataclass

import numpy as np

from worker.lifecycle.errors import JobFailed

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
PREFIX = "convforge-dp-"
ALIGN = 64  # a cache line: arrays of different processes never share one

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArraySpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def plan_layout(arrays: list[tuple[str, tuple[int, ...], str]]) -> tuple[list[ArraySpec], int]:
    """Place arrays one after another, each aligned; returns the specs and the total size."""
    specs, offset = [], 0
    for name, shape, dtype in arrays:
        spec = ArraySpec(name, tuple(int(d) for d in shape), np.dtype(dtype).str, offset)
        specs.append(spec)
        offset += -(-max(spec.nbytes, 1) // ALIGN) * ALIGN
    return specs, max(offset, ALIGN)


class Segment:
    """A mapped file holding the arrays of a layout; `arrays[name]` are views into it."""

    def __init__(self, path: str, specs: list[ArraySpec], size: int, create: bool):
        self.path = path
        self.specs = specs
        self.size = size
        if create:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        else:
            fd = os.open(path, os.O_RDWR)
        try:
            if create:
                _reserve(fd, path, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.arrays = {
            s.name: np.ndarray(s.shape, dtype=s.dtype, buffer=self._map, offset=s.offset)
            for s in specs
        }

    @classmethod
    def create(cls, arrays: list[tuple[str, tuple[int, ...], str]]) -> "Segment":
        specs, size = plan_layout(arrays)
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        return cls(os.path.join(SHM_DIR, name), specs, size, create=True)

    @classmethod
    def attach(cls, path: str, specs: list[ArraySpec], size: int) -> "Segment":
        return cls(path, specs, size, create=False)

    def unlink(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """Unmap. Views handed out earlier must not be used afterwards."""
        self.arrays = {}
        try:
            self._map.close()
        except BufferError:
            # A view is still referenced somewhere; the mapping goes when that view is collected.
            pass


def _reserve(fd: int, path: str, size: int) -> None:
    """Allocate the pages now: writing to a sparse file on a full tmpfs would kill with SIGBUS."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        os.unlink(path)
        free = os.statvfs(SHM_DIR).f_bavail * os.statvfs(SHM_DIR).f_frsize
        raise JobFailed(
            f"data parallelism needs {size / 2**20:.0f} MiB of shared memory in {SHM_DIR} but only "
            f"{free / 2**20:.0f} MiB are free; give the worker more (docker-compose: shm_size) or use "
            f"fewer workers or a smaller batch_size") from None


def sweep_stale_segments() -> None:
    """Remove segments left by a parent that died before it could unlink them."""
    for entry in os.listdir(SHM_DIR):
        if not entry.startswith(PREFIX):
            continue
        pid_text = entry[len(PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        try:
            os.unlink(os.path.join(SHM_DIR, entry))
        except FileNotFoundError:
            continue
        log.warning("removed %s, left in %s by process %s, which no longer exists", entry, SHM_DIR, pid_text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
