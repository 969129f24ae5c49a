from __future__ import annotations

import gzip

import numpy as np
import pytest

from shared.data import IngestLimits
from shared.data.store import open_arrays

from .builders import idx_bytes, write_idx
from .conftest import LIMITS


@pytest.fixture
def mnist_like(rng):
    return {"images": rng.integers(0, 256, (12, 5, 4), dtype=np.uint8), "labels": (np.arange(12) % 4).astype(np.uint8),
            "test_images": rng.integers(0, 256, (5, 5, 4), dtype=np.uint8), "test_labels": np.arange(5, dtype=np.uint8) % 4}


@pytest.mark.parametrize("compress", [False, True])
def test_train_and_test_round_trip(workspace, mnist_like, compress):
    parts = {field: write_idx(workspace.path(f"{field}.idx" + (".gz" if compress else "")), array, compress)
             for field, array in mnist_like.items()}
    result, target = workspace.ingest(parts)
    arrays = open_arrays(target)
    np.testing.assert_array_equal(arrays["x_train"][:, 0], mnist_like["images"])
    np.testing.assert_array_equal(arrays["y_train"], mnist_like["labels"])
    np.testing.assert_array_equal(arrays["x_test"][:, 0], mnist_like["test_images"])
    np.testing.assert_array_equal(arrays["y_test"], mnist_like["test_labels"])
    assert (result.source_format, result.input_shape, result.num_classes) == ("idx", [1, 5, 4], 4)
    assert result.class_counts == [3, 3, 3, 3] and arrays["x_train"].dtype == np.uint8


def test_float_idx_is_stored_float32(workspace, rng):
    images = rng.normal(size=(4, 3, 3)).astype(">f4")
    parts = {"images": write_idx(workspace.path("im"), images),
             "labels": write_idx(workspace.path("lb"), np.array([0, 1, 0, 1], np.uint8))}
    _, target = workspace.ingest(parts)
    stored = open_arrays(target)["x_train"]
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored[:, 0], images.astype(np.float32))


def labels_file(workspace, count=4):
    return write_idx(workspace.path("labels"), (np.arange(count) % 2).astype(np.uint8))


def test_absurd_raw_header_is_checked_against_the_file_size(workspace):
    # A header claiming 10**9 images of 10**5 x 10**5: would be 10**19 bytes if allocated.
    path = workspace.path("images")
    path.write_bytes(idx_bytes(np.zeros((4, 3, 3), np.uint8), dims=[10**9, 10**5, 10**5]))
    error = workspace.rejected({"images": path, "labels": labels_file(workspace)})
    assert error.status == 422 and "header declares" in error.detail and error.loc == ["images"]


def test_absurd_gz_header_is_checked_against_the_expansion_limit(workspace):
    path = workspace.path("images.gz")
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 3, 3), np.uint8), dims=[10, 10**5, 10**5])))
    error = workspace.rejected({"images": path, "labels": labels_file(workspace)})
    assert error.status == 413 and error.loc == ["images"]


def test_gz_bomb_past_the_expansion_limit_is_refused(workspace):
    path = write_idx(workspace.path("images.gz"), np.zeros((1000, 100, 100), np.uint8), compress=True)
    assert path.stat().st_size < 100_000
    limits = IngestLimits(LIMITS.max_bytes, LIMITS.max_samples, LIMITS.max_classes, max_expanded_bytes=1_000_000)
    error = workspace.rejected({"images": path, "labels": labels_file(workspace, 1000)}, limits=limits)
    assert error.status == 413


@pytest.mark.parametrize("damage", ["truncate_raw", "trailing_raw", "truncate_gz", "corrupt_gz", "trailing_gz",
                                    "bad_magic", "short_header"])
def test_damaged_files_are_rejected(workspace, rng, damage):
    images = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    raw = idx_bytes(images)
    content = {
        "truncate_raw": raw[:-5],
        "trailing_raw": raw + b"\0",
        "truncate_gz": gzip.compress(raw)[:-12],
        "corrupt_gz": gzip.compress(raw)[:-8] + b"\0\0\0\0" + gzip.compress(raw)[-4:],  # wrong CRC
        "trailing_gz": gzip.compress(raw + b"extra"),
        "bad_magic": b"\x01\x02" + raw[2:],
        "short_header": raw[:6],
    }[damage]
    path = workspace.path("images.gz" if "gz" in damage else "images")
    path.write_bytes(content)
    error = workspace.rejected({"images": path, "labels": labels_file(workspace)})
    assert error.status == 422 and error.loc == ["images"]


def test_image_and_label_counts_must_match(workspace, rng):
    parts = {"images": write_idx(workspace.path("images"), rng.integers(0, 256, (5, 3, 3), dtype=np.uint8)),
             "labels": labels_file(workspace, 4)}
    error = workspace.rejected(parts)
    assert error.status == 422 and "5 images but 4 labels" in error.detail and error.loc == ["labels"]


def test_labels_out_of_range_for_the_named_classes(workspace, rng):
    parts = {"images": write_idx(workspace.path("images"), rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)),
             "labels": write_idx(workspace.path("labels"), np.array([0, 1, 2, 1], np.uint8))}
    error = workspace.rejected(parts, {"classes": "a,b"})
    assert error.status == 422 and error.loc == ["labels", 2]


@pytest.mark.parametrize("fields, missing", [(("images",), "labels"), (("labels",), "images"),
                                             (("images", "labels", "test_images"), "test_labels")])
def test_parts_come_in_pairs(workspace, rng, fields, missing):
    images = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    arrays = {"images": images, "test_images": images, "labels": np.zeros(4, np.uint8)}
    parts = {field: write_idx(workspace.path(field), arrays[field]) for field in fields}
    error = workspace.rejected(parts)
    assert error.status == 400 and error.loc == [missing]
