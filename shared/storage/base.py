"""What every artifact store does. Keys are relative paths with "/" separators ("datasets/<id>/x_train.npy").

An object appears whole or not at all: a reader never sees a half-written object. Callers record an
object in the database only after `put_file` returned, so a recorded object is always complete.
"""
from __future__ import annotations

import logging
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Iterator, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK_BYTES = 1024 * 1024


class StoreError(Exception):
    """The store cannot do what was asked; the message says why in words a person can act on."""


class StoreUnavailable(StoreError):
    """The store could not be reached (or kept failing) for the whole retry period."""


class ObjectMissing(StoreError):
    """No object under that key."""


class ObjectStream:
    """An object's bytes, read a chunk at a time (never loaded whole)."""

    def __init__(self, size: int, chunks: Iterator[bytes], close: Callable[[], None]):
        self.size = size
        self._chunks = chunks
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        self._close()


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"artifact key {key!r} is not a plain relative path")
    return key


class ArtifactStore(ABC):
    #: Where the store is, for messages: a folder or s3://bucket/prefix.
    location: str

    @abstractmethod
    def put_file(self, key: str, source: Path) -> None:
        """Store the file `source` under `key`, replacing any object there, all at once."""

    @abstractmethod
    def get_file(self, key: str, target: Path) -> None:
        """Write the object to `target` (through a temporary file renamed into place)."""

    @abstractmethod
    def open(self, key: str) -> ObjectStream:
        """The object's bytes as a stream; raises ObjectMissing."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Remove these objects; missing ones are fine."""

    def local_path(self, key: str) -> Path | None:
        """The object's file when the store is a local folder (read it in place), else None."""
        return None

    def exists(self, key: str) -> bool:
        return key in self.keys(key)

    def publish_folder(self, prefix: str, folder: Path) -> list[str]:
        """Store every file under `folder` as `prefix/<relative path>`, then remove the folder. If any upload
        fails, the objects already stored are removed (best effort) and the error propagates."""
        stored: list[str] = []
        try:
            for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
                key = f"{prefix}/{path.relative_to(folder).as_posix()}"
                self.put_file(key, path)
                stored.append(key)
        except BaseException:
            self.discard(stored)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return stored

    def delete_prefix(self, prefix: str) -> None:
        self.delete(self.keys(prefix))

    def discard(self, keys: list[str]) -> None:
        """Delete as cleanup after a failure: never raises, logs what is left behind."""
        try:
            self.delete(keys)
        except Exception as exc:
            log.warning("could not remove %d partial objects from %s: %s", len(keys), self.location, exc)


def retry_while_unavailable(action: Callable[[], T], what: str, retry_seconds: float,
                            is_transient: Callable[[Exception], bool], location: str) -> T:
    """Run `action`, retrying with backoff while it fails with transient errors, for up to `retry_seconds`;
    then raise StoreUnavailable naming what was being done."""
    deadline = time.monotonic() + retry_seconds
    delay = 0.25
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(f"the artifact store {location} could not be reached while {what} "
                                       f"(tried for {retry_seconds:g}s): {exc}") from exc
            log.warning("artifact store unavailable while %s (%s); retrying in %.1fs", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
