"""Removing what crashed or killed uploads left in the artifact store, crash-safely:

- staging folders (`.<name>.staging-*`, from store.staged_directory) and folders half removed by an
  earlier sweep (`.<name>.removing`): hidden entries no dataset ever points at;
- dataset folders no row points at (a crash between the final rename and the row's commit);
- upload folders (`tmp/upload-*`) of requests that never reached their teardown.

Only entries untouched for `grace_seconds` are removed, so an upload still being parsed by another
thread or process is left alone. A folder is first renamed to a hidden `.removing` name and then
deleted, so a crash halfway leaves something the next sweep recognises, never a half-deleted dataset
under its real name."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

REMOVING_SUFFIX = ".removing"
UPLOAD_FOLDER_PREFIX = "upload-"


@dataclass
class SweepReport:
    staging: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return len(self.staging) + len(self.orphans) + len(self.uploads)


def sweep_dataset_folders(datasets_root: Path, known_folders: set[str], grace_seconds: float,
                          now: float | None = None) -> SweepReport:
    """`known_folders`: the folder names (under datasets_root) that dataset rows point at."""
    now = time.time() if now is None else now
    report = SweepReport()
    if not datasets_root.is_dir():
        return report
    for entry in datasets_root.iterdir():
        if not _untouched_for(entry, grace_seconds, now):
            continue
        if entry.name.startswith("."):
            _remove(entry)
            report.staging.append(entry.name)
        elif entry.name not in known_folders:
            _remove(entry)
            report.orphans.append(entry.name)
    return report


def sweep_upload_folders(uploads_root: Path, grace_seconds: float, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    removed = []
    if uploads_root.is_dir():
        for entry in uploads_root.iterdir():
            if entry.name.startswith(UPLOAD_FOLDER_PREFIX) and _untouched_for(entry, grace_seconds, now):
                _remove(entry)
                removed.append(entry.name)
    return removed


def _untouched_for(entry: Path, grace_seconds: float, now: float) -> bool:
    """Whether neither the entry nor anything directly in it changed for `grace_seconds`."""
    try:
        newest = entry.lstat().st_mtime
        if entry.is_dir() and not entry.is_symlink():
            for child in entry.iterdir():
                newest = max(newest, child.lstat().st_mtime)
    except FileNotFoundError:
        return False  # removed meanwhile
    return now - newest >= grace_seconds


def _remove(entry: Path) -> None:
    target = entry
    if not entry.name.startswith("."):
        target = entry.with_name(f".{entry.name}{REMOVING_SUFFIX}")
        try:
            os.replace(entry, target)
        except FileNotFoundError:
            return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)
