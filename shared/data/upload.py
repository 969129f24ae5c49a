"""What `ingest` is given: the saved multipart parts and the limits they must respect."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# 'file' holds a whole dataset (npz, csv, zip); 'test_file' an optional test split in the same format.
# 'images'/'labels' (+ 'test_images'/'test_labels') are IDX files.
UPLOAD_FIELDS = ("file", "test_file", "images", "labels", "test_images", "test_labels")


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    path: Path


@dataclass(frozen=True)
class IngestLimits:
    max_bytes: int  # all uploaded parts together, as sent
    max_samples: int  # train + test
    max_classes: int
    max_expanded_bytes: int  # bytes after decompression (zip members, .gz) and of the decoded arrays

    @classmethod
    def from_settings(cls, settings) -> "IngestLimits":
        return cls(max_bytes=settings.max_upload_bytes, max_samples=settings.max_dataset_samples,
                   max_classes=settings.max_classes, max_expanded_bytes=settings.max_expanded_bytes)
