from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from shared.data import IngestLimits
from shared.data.store import open_arrays

from .conftest import LIMITS


def npz(workspace, name="data.npz", **arrays):
    path = workspace.path(name)
    np.savez(path, **arrays)
    return {"file": path}


def test_train_test_pairs_round_trip_with_class_names(workspace, rng):
    x_train = rng.integers(0, 256, (30, 1, 5, 6), dtype=np.uint8)
    y_train = np.arange(30) % 3
    x_test = rng.integers(0, 256, (9, 1, 5, 6), dtype=np.uint8)
    y_test = np.arange(9) % 3
    result, target = workspace.ingest(npz(workspace, x_train=x_train, y_train=y_train, x_test=x_test,
                                          y_test=y_test, classes=np.array(["cat", "dog", "owl"])))
    arrays = open_arrays(target)
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.int64
    np.testing.assert_array_equal(arrays["x_train"], x_train)
    np.testing.assert_array_equal(arrays["y_train"], y_train)
    np.testing.assert_array_equal(arrays["x_test"], x_test)
    np.testing.assert_array_equal(arrays["y_test"], y_test)
    assert (result.source_format, result.num_samples, result.num_test_samples) == ("npz", 30, 9)
    assert result.input_shape == [1, 5, 6] and result.num_classes == 3
    assert result.class_names == ["cat", "dog", "owl"] and result.class_counts == [10, 10, 10]
    assert result.channel_mean == pytest.approx([x_train.mean() / 255])
    assert result.channel_std == pytest.approx([(x_train / 255).std()])
    digest = hashlib.sha256()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        digest.update((target / f"{name}.npy").read_bytes())
    assert result.sha256 == digest.hexdigest()
    assert result.size_bytes == sum((target / f"{n}.npy").stat().st_size for n in ("x_train", "y_train", "x_test", "y_test"))


def test_samples_are_small_pngs_per_class(workspace, rng):
    x = rng.integers(0, 256, (20, 3, 100, 80), dtype=np.uint8)
    _, target = workspace.ingest(npz(workspace, x=x, y=np.arange(20) % 2))
    names = sorted(path.name for path in (target / "samples").iterdir())
    assert names == [f"{label}_{k}.png" for label in (0, 1) for k in range(4)]
    with Image.open(target / "samples" / "1_0.png") as picture:
        assert picture.mode == "RGB" and max(picture.size) <= 64


def test_nhwc_is_detected_and_stored_nchw(workspace, rng):
    x = rng.integers(0, 256, (8, 6, 5, 3), dtype=np.uint8)
    result, target = workspace.ingest(npz(workspace, x=x, y=np.zeros(8, dtype=np.int64)))
    assert result.input_shape == [3, 6, 5]
    np.testing.assert_array_equal(open_arrays(target)["x_train"], x.transpose(0, 3, 1, 2))


def test_layout_option_settles_an_ambiguous_shape(workspace, rng):
    x = rng.integers(0, 256, (4, 3, 5, 3), dtype=np.uint8)
    error = workspace.rejected(npz(workspace, x=x, y=np.zeros(4, dtype=np.int8)))
    assert error.status == 422 and "layout" in error.detail
    result, target = workspace.ingest(npz(workspace, "b.npz", x=x, y=np.zeros(4, dtype=np.int8)), {"layout": "nhwc"})
    assert result.input_shape == [3, 3, 5]
    np.testing.assert_array_equal(open_arrays(target)["x_train"], x.transpose(0, 3, 1, 2))


def test_three_dimensional_images_get_one_channel(workspace, rng):
    x = rng.integers(0, 256, (4, 7, 7), dtype=np.uint8)
    result, target = workspace.ingest(npz(workspace, x=x, y=np.arange(4)))
    assert result.input_shape == [1, 7, 7]
    np.testing.assert_array_equal(open_arrays(target)["x_train"][:, 0], x)


def test_float_images_are_stored_float32_without_scaling(workspace, rng):
    x = rng.normal(size=(10, 3, 4, 5))
    result, target = workspace.ingest(npz(workspace, x=x, y=np.arange(10) % 2))
    stored = open_arrays(target)["x_train"]
    assert stored.dtype == np.float32
    np.testing.assert_allclose(stored, x.astype(np.float32))
    assert result.channel_mean == pytest.approx(x.mean(axis=(0, 2, 3)), rel=1e-5)


def test_whole_number_pixels_in_byte_range_are_stored_uint8(workspace, rng):
    x = rng.integers(0, 256, (5, 1, 3, 3)).astype(np.int64)
    _, target = workspace.ingest(npz(workspace, x=x, y=np.arange(5)))
    assert open_arrays(target)["x_train"].dtype == np.uint8


def test_pickled_objects_are_never_loaded(workspace, tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    x = np.empty(2, dtype=object)
    x[:] = [Payload(), Payload()]
    error = workspace.rejected(npz(workspace, x=x, y=np.arange(2)))
    assert error.status == 422 and "pickled" in error.detail and error.loc == ["file", "x"]
    assert not marker.exists()


@pytest.mark.parametrize("cut", [40, 400])
def test_truncated_archive_is_rejected(workspace, rng, cut):
    path = npz(workspace, x=rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8), y=np.arange(20))["file"]
    path.write_bytes(path.read_bytes()[:-cut])
    assert workspace.rejected({"file": path}).status == 422


def test_array_header_that_disagrees_with_its_data_is_rejected(workspace):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (1000, 28, 28)})
    path = workspace.path("lying.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(100))
        archive.writestr("y.npy", _npy(np.arange(1000)))
    error = workspace.rejected({"file": path})
    assert error.status == 422 and "truncated" in error.detail and error.loc == ["file", "x"]


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_declared_expansion_over_the_limit_is_refused_before_reading(workspace):
    path = npz(workspace, x=np.zeros((100, 1, 32, 32), dtype=np.uint8), y=np.zeros(100, dtype=np.int64))["file"]
    limits = IngestLimits(LIMITS.max_bytes, LIMITS.max_samples, LIMITS.max_classes, max_expanded_bytes=50_000)
    error = workspace.rejected({"file": path}, limits=limits)
    assert error.status == 413 and "50000" in error.detail


@pytest.mark.parametrize("arrays, fragment", [
    ({"x": np.zeros((3, 1, 2, 2), np.uint8)}, "not y"),
    ({"images": np.zeros((3, 1, 2, 2), np.uint8), "y": np.zeros(3)}, "not one of"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.arange(4)}, "3 images but 4 labels"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.array([0, 1.5, 2])}, "whole numbers"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.array([0, -1, 2])}, "0 or more"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.array(["a", "b", "c"])}, "whole numbers"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.eye(3)}, "one-hot"),
    ({"x": np.array([[[[0.0, np.nan]]]] * 3), "y": np.arange(3)}, "NaN or infinite"),
    ({"x": np.array([[[[0.0, np.inf]]]] * 3), "y": np.arange(3)}, "NaN or infinite"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.arange(3), "classes": np.array(["a", "b"])}, "out of range"),
    ({"x": np.zeros((3, 1, 2, 2), np.uint8), "y": np.array([0, 1, 100])}, "more than the limit of 100"),
    ({"x_train": np.zeros((3, 1, 2, 2), np.uint8), "y_train": np.arange(3),
      "x_test": np.zeros((3, 1, 2, 3), np.uint8), "y_test": np.arange(3)}, "test images are"),
    ({"x": np.zeros((3, 1, 2, 2), np.complex64), "y": np.arange(3)}, "must be numbers"),
    ({"x": np.zeros((0, 1, 2, 2), np.uint8), "y": np.zeros(0, np.int64)}, "no training images"),
])
def test_bad_content_is_unprocessable(workspace, arrays, fragment):
    error = workspace.rejected(npz(workspace, **arrays))
    assert error.status == 422
    assert fragment in error.detail
    assert error.loc[0] == "file"


def test_nan_rejection_names_the_image(workspace):
    x = np.zeros((5, 1, 2, 2), np.float32)
    x[3, 0, 1, 1] = np.nan
    error = workspace.rejected(npz(workspace, x=x, y=np.arange(5)))
    assert error.loc == ["file", "x", 3] and "image 3" in error.detail


def test_too_many_samples_is_too_large(workspace):
    limits = IngestLimits(LIMITS.max_bytes, 5, LIMITS.max_classes, LIMITS.max_expanded_bytes)
    error = workspace.rejected(npz(workspace, x=np.zeros((6, 1, 2, 2), np.uint8), y=np.zeros(6, np.int64)),
                               limits=limits)
    assert error.status == 413
