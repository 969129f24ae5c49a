"""What every format shares: the upload's fields, format detection, size limits, and atomic writes."""
from __future__ import annotations

import numpy as np
import pytest

from shared.config import load_settings
from shared.data import IngestLimits, Upload, ingest
from shared.data import ingestion

from .builders import idx_bytes, write_csv
from .conftest import LIMITS


@pytest.fixture
def small_npz(workspace, rng):
    path = workspace.path("small.npz")
    np.savez(path, x=rng.integers(0, 256, (6, 1, 4, 4), dtype=np.uint8), y=np.arange(6) % 3)
    return path


def test_format_is_detected_from_magic_bytes_when_the_name_says_nothing(workspace, small_npz):
    renamed = small_npz.rename(workspace.path("upload.bin"))
    result, _ = workspace.ingest({"file": renamed})
    assert result.source_format == "npz"


def test_format_option_overrides_detection(workspace, rng):
    path = write_csv(workspace.path("table.txt"), rng.integers(0, 256, (3, 4)), np.array([0, 1, 0]))
    result, _ = workspace.ingest({"file": path}, {"format": "csv"})
    assert result.source_format == "csv" and result.input_shape == [1, 2, 2]


@pytest.mark.parametrize("parts, options, field", [
    ({}, {}, "file"),
    ({"file": "small.npz"}, {"format": "hdf5"}, "format"),
    ({"attachment": "small.npz"}, {}, "attachment"),
    ({"file": "small.npz", "images": "small.npz"}, {}, "file"),
    ({"file": "notes.txt"}, {}, "file"),
    ({"file": "small.npz"}, {"layout": "chwn"}, "layout"),
    ({"file": "small.npz"}, {"classes": "a,,b"}, "classes"),
])
def test_malformed_requests_are_bad_requests(workspace, small_npz, parts, options, field):
    workspace.path("notes.txt").write_text("hello")
    error = workspace.rejected({name: workspace.path(file) for name, file in parts.items()}, options)
    assert error.status == 400 and error.loc == [field]


def test_a_field_sent_twice_is_a_bad_request(workspace, small_npz):
    uploads = [Upload("file", "a.npz", small_npz), Upload("file", "b.npz", small_npz)]
    with pytest.raises(ingestion.DatasetRejected) as caught:
        ingest(uploads, {}, workspace.store / "twice", LIMITS)
    assert caught.value.status == 400 and "twice" in caught.value.detail


def test_one_idx_file_alone_is_not_enough(workspace):
    path = workspace.path("train-images-idx3-ubyte")
    path.write_bytes(idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    error = workspace.rejected({"file": path})
    assert error.status == 400 and error.loc == ["labels"]


def test_uploads_over_the_size_limit_are_too_large(workspace, small_npz):
    limits = IngestLimits(small_npz.stat().st_size - 1, LIMITS.max_samples, LIMITS.max_classes,
                          LIMITS.max_expanded_bytes)
    error = workspace.rejected({"file": small_npz}, limits=limits)
    assert error.status == 413 and error.loc == ["file"]


def test_classes_option_names_the_classes(workspace, small_npz):
    result, _ = workspace.ingest({"file": small_npz}, {"classes": "shirt, shoe, bag"})
    assert result.class_names == ["shirt", "shoe", "bag"]
    error = workspace.rejected({"file": small_npz}, {"classes": "shirt,shoe"})
    assert error.status == 422 and "out of range" in error.detail


def test_a_failure_while_writing_leaves_nothing(workspace, small_npz, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ingestion, "write_samples", broken)
    with pytest.raises(OSError):
        workspace.ingest({"file": small_npz})
    assert list(workspace.store.iterdir()) == []


def test_an_existing_target_is_never_overwritten(workspace, small_npz):
    (workspace.store / "taken").mkdir()
    with pytest.raises(FileExistsError):
        ingest([Upload("file", "small.npz", small_npz)], {}, workspace.store / "taken", LIMITS)


def test_limits_from_settings(monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("MAX_EXPANDED_BYTES", "5000")
    monkeypatch.setenv("MAX_DATASET_SAMPLES", "7")
    monkeypatch.setenv("MAX_CLASSES", "3")
    assert IngestLimits.from_settings(load_settings()) == IngestLimits(1000, 7, 3, 5000)
