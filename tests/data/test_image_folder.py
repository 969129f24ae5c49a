from __future__ import annotations

import zipfile

import numpy as np
import pytest

from shared.data import IngestLimits
from shared.data.archive import ArchiveBudget
from shared.data.errors import DatasetRejected
from shared.data.store import open_arrays

from .builders import image_folder_members, png_bytes, write_zip
from .conftest import LIMITS


def test_grey_class_folders_round_trip_in_sorted_class_order(workspace, rng):
    images = rng.integers(0, 256, (6, 5, 7), dtype=np.uint8)
    labels = np.array([2, 1, 0, 2, 1, 0])
    members = image_folder_members(images, labels, ["circle", "square", "star"])
    result, target = workspace.ingest({"file": write_zip(workspace.path("shapes.zip"), members)})
    arrays = open_arrays(target)
    assert result.source_format == "imagefolder" and result.input_shape == [1, 5, 7]
    assert result.class_names == ["circle", "square", "star"] and result.class_counts == [2, 2, 2]
    np.testing.assert_array_equal(arrays["x_train"][:, 0], images)  # in archive order
    np.testing.assert_array_equal(arrays["y_train"], labels)


def test_colour_anywhere_makes_every_image_rgb(workspace, rng):
    grey = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    colour = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    path = write_zip(workspace.path("mixed.zip"), {"a/grey.png": png_bytes(grey), "b/colour.png": png_bytes(colour)})
    result, target = workspace.ingest({"file": path})
    arrays = open_arrays(target)
    assert result.input_shape == [3, 4, 4]
    np.testing.assert_array_equal(arrays["x_train"][0], np.stack([grey] * 3))
    np.testing.assert_array_equal(arrays["x_train"][1], colour.transpose(2, 0, 1))


def test_enclosing_folder_train_test_split_and_jpeg(workspace, rng):
    images = rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)
    members = {"photos/train/cat/1.png": png_bytes(images[0]), "photos/train/dog/2.jpg": png_bytes(images[1], "JPEG"),
               "photos/test/cat/3.png": png_bytes(images[2]), "photos/test/dog/4.jpeg": png_bytes(images[3], "JPEG"),
               "__MACOSX/photos/._1.png": b"resource fork", "photos/.DS_Store": b"finder"}
    result, target = workspace.ingest({"file": write_zip(workspace.path("photos.zip"), members)})
    arrays = open_arrays(target)
    assert (result.num_samples, result.num_test_samples, result.class_names) == (2, 2, ["cat", "dog"])
    np.testing.assert_array_equal(arrays["y_test"], [0, 1])
    np.testing.assert_array_equal(arrays["x_test"][0], images[2].transpose(2, 0, 1))


def test_resize_option_brings_every_image_to_one_size(workspace, rng):
    members = {"a/1.png": png_bytes(rng.integers(0, 256, (10, 8), dtype=np.uint8)),
               "b/2.png": png_bytes(rng.integers(0, 256, (4, 4), dtype=np.uint8))}
    path = write_zip(workspace.path("sizes.zip"), members)
    error = workspace.rejected({"file": path})
    assert error.status == 422 and "resize" in error.detail and error.loc == ["file", "b/2.png"]
    result, target = workspace.ingest({"file": path}, {"resize": "6x5"})
    assert result.input_shape == [1, 5, 6] and open_arrays(target)["x_train"].shape == (2, 1, 5, 6)
    result, _ = workspace.ingest({"file": path}, {"resize": "5,6"})
    assert result.input_shape == [1, 5, 6]
    assert workspace.rejected({"file": path}, {"resize": "big"}).status == 400


@pytest.mark.parametrize("name", ["../escape.png", "a/../../escape.png", "/etc/escape.png", "C:/escape.png"])
def test_paths_that_leave_the_folder_are_refused(workspace, rng, name):
    members = {"a/ok.png": png_bytes(rng.integers(0, 256, (4, 4), dtype=np.uint8)),
               name: png_bytes(rng.integers(0, 256, (4, 4), dtype=np.uint8))}
    error = workspace.rejected({"file": write_zip(workspace.path("slip.zip"), members)})
    assert error.status == 422 and "outside" in error.detail and error.loc == ["file", name]


def test_symbolic_links_are_refused(workspace, rng):
    path = workspace.path("link.zip")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a/ok.png", png_bytes(rng.integers(0, 256, (4, 4), dtype=np.uint8)))
        link = zipfile.ZipInfo("a/link.png")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    error = workspace.rejected({"file": path})
    assert error.status == 422 and error.loc == ["file", "a/link.png"]


@pytest.mark.parametrize("members, fragment", [
    ({"a/1.png": "PNG", "a/readme.txt": b"hello"}, "not a PNG or JPEG"),
    ({"a/1.png": "PNG", "a/2.png": b"not really a png"}, "not a readable image"),
    ({"a/1.png": "PNG", "a/2.png": "JPEG"}, "holds JPEG"),
    ({"a/1.png": "PNG", "loose.png": "PNG"}, "not in a class folder"),
    ({"a/b/c/1.png": "PNG", "a/2.png": "PNG"}, "not in a class folder"),
    ({"train/a/1.png": "PNG", "test/b/2.png": "PNG"}, "no training folder"),
    ({}, "no images"),
])
def test_bad_archives_are_rejected(workspace, rng, members, fragment):
    pixels = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    content = {name: png_bytes(pixels, value) if isinstance(value, str) else value for name, value in members.items()}
    error = workspace.rejected({"file": write_zip(workspace.path("bad.zip"), content)})
    assert error.status == 422 and fragment in error.detail


def test_zip_bomb_is_refused_from_its_declared_sizes(workspace):
    path = write_zip(workspace.path("bomb.zip"), {"a/1.png": bytes(20_000_000)})
    assert path.stat().st_size < 100_000
    limits = IngestLimits(LIMITS.max_bytes, LIMITS.max_samples, LIMITS.max_classes, max_expanded_bytes=1_000_000)
    error = workspace.rejected({"file": path}, limits=limits)
    assert error.status == 413


def test_bytes_read_are_counted_whatever_the_headers_say(workspace):
    path = write_zip(workspace.path("big.zip"), {"a/1.png": bytes(300_000)})
    budget = ArchiveBudget(max_bytes=100_000, loc=["file"])
    with zipfile.ZipFile(path) as archive, pytest.raises(DatasetRejected) as caught:
        budget.read_member(archive, archive.infolist()[0])
    assert caught.value.status == 413 and budget.used <= 100_000 + (1 << 16)


def test_image_count_over_the_sample_limit(workspace, rng):
    pixels = png_bytes(rng.integers(0, 256, (4, 4), dtype=np.uint8))
    path = write_zip(workspace.path("many.zip"), {f"a/{k}.png": pixels for k in range(6)})
    limits = IngestLimits(LIMITS.max_bytes, 5, LIMITS.max_classes, LIMITS.max_expanded_bytes)
    assert workspace.rejected({"file": path}, limits=limits).status == 413
