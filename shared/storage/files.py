"""Artifact-store objects as local files for the code that reads files (np.load): read in place from a
local store, downloaded to a scratch file (deleted after) from a remote one."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from shared.config import Settings
from shared.storage import ArtifactStore


def scratch_dir(settings: Settings) -> Path:
    """Local room for files on their way to or from the store."""
    folder = settings.var_dir / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def fetched(store: ArtifactStore, key: str, scratch: Path) -> Iterator[Path]:
    local = store.local_path(key)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = Path(folder) / Path(key).name
        store.get_file(key, path)
        yield path


@contextmanager
def scratch_file(scratch: Path, name: str) -> Iterator[Path]:
    """A path to write a file to before it is stored; removed afterwards."""
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        yield Path(folder) / name
