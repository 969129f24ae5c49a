"""The default store: a folder on this machine (ARTIFACT_DIR). Writes go to a temporary file in the same
folder and are renamed into place, so a reader sees the old object or the new one, never half."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .base import CHUNK_BYTES, ArtifactStore, ObjectMissing, ObjectStream, check_key


class LocalStore(ArtifactStore):
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.location = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_atomically(Path(source), target)

    def get_file(self, key: str, target: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise ObjectMissing(f"no object {key} in {self.location}")
        copy_atomically(source, Path(target))

    def open(self, key: str) -> ObjectStream:
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(f"no object {key} in {self.location}") from None
        return ObjectStream(os.fstat(handle.fileno()).st_size, iter(lambda: handle.read(CHUNK_BYTES), b""),
                            handle.close)

    def keys(self, prefix: str) -> list[str]:
        # Walk only the folder the prefix names; partial files (".*.partial") are never objects.
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        found = []
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.endswith(".partial"):
                found.append(key)
        return sorted(found)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # Folders left empty go too (a dataset's, a job's checkpoints'), up to the store's top.
            for folder in path.parents:
                if folder == self.root or not folder.is_relative_to(self.root):
                    break
                try:
                    folder.rmdir()
                except OSError:  # not empty, or already gone
                    break

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def publish_folder(self, prefix: str, folder: Path) -> list[str]:
        moved = _publish_by_rename(self, check_key(prefix), Path(folder))
        return moved if moved is not None else super().publish_folder(prefix, folder)


def copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _publish_by_rename(store: LocalStore, prefix: str, folder: Path) -> list[str] | None:
    """A whole folder moved into place with one rename, when it is on the store's file system."""
    target = store._path(prefix)
    if target.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(folder, target)
    except OSError:  # another file system: copy file by file instead
        return None
    return store.keys(f"{prefix}/")

