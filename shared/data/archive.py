"""Zip archives from users (.npz files and image folders): opened only after the member list is checked
for paths that leave the folder and for sizes past the expansion limit; reads count every byte."""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from .checks import ExpansionBudget, expanded_limit
from .errors import DatasetRejected


def open_zip(path: Path, loc: list, max_expanded_bytes: int, what: str = "zip archive") -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetRejected(422, f"not a readable {what}: {exc}", loc) from None
    try:
        for info in archive.infolist():
            check_member_path(info, loc)
        expanded_limit(sum(info.file_size for info in archive.infolist()), max_expanded_bytes, loc,
                       f"the {what}")
    except DatasetRejected:
        archive.close()
        raise
    return archive


def check_member_path(info: zipfile.ZipInfo, loc: list) -> None:
    """Refuse absolute paths, drive letters, '..' parts and symbolic links (the "zip slip")."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    leaves = (name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts)
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    if leaves or is_link:
        raise DatasetRejected(422, f"archive member {info.filename!r} points outside the archive's folder",
                              loc + [info.filename])


class ArchiveBudget(ExpansionBudget):
    """An expansion budget that reads whole (small) zip members."""

    def read_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """A whole (small) member, read in blocks so a lying header cannot make it larger than the budget."""
        blocks = []
        try:
            with archive.open(info) as member:
                while block := member.read(1 << 16):
                    self.spend(len(block))
                    blocks.append(block)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise DatasetRejected(422, f"archive member {info.filename!r} is damaged: {exc}",
                                  self.loc + [info.filename]) from None
        return b"".join(blocks)
