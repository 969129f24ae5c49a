from __future__ import annotations

import numpy as np
import pytest

from shared.data.store import open_arrays

from .builders import write_csv


def test_kaggle_layout_round_trips(workspace, rng):
    images = rng.integers(0, 256, (7, 28, 28))
    labels = np.arange(7) % 3
    result, target = workspace.ingest({"file": write_csv(workspace.path("train.csv"), images, labels)})
    arrays = open_arrays(target)
    assert arrays["x_train"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x_train"][:, 0], images)
    np.testing.assert_array_equal(arrays["y_train"], labels)
    assert (result.source_format, result.input_shape, result.num_classes) == ("csv", [1, 28, 28], 3)


def test_without_header_and_with_a_test_file(workspace, rng):
    images, test_images = rng.integers(0, 256, (5, 2, 2)), rng.integers(0, 256, (3, 2, 2))
    parts = {"file": write_csv(workspace.path("a.csv"), images, np.array([0, 1, 1, 0, 1]), header=False),
             "test_file": write_csv(workspace.path("b.csv"), test_images, np.array([1, 0, 1]), header=False)}
    result, target = workspace.ingest(parts)
    arrays = open_arrays(target)
    np.testing.assert_array_equal(arrays["x_train"][:, 0], images)
    np.testing.assert_array_equal(arrays["x_test"][:, 0], test_images)
    np.testing.assert_array_equal(arrays["y_test"], [1, 0, 1])
    assert (result.num_samples, result.num_test_samples) == (5, 3)


def test_label_column_by_name_and_colour_input_shape(workspace, rng):
    images = rng.integers(0, 256, (4, 3, 2, 2))
    path = workspace.path("colour.csv")
    with open(path, "w") as table:
        table.write(",".join([f"p{i}" for i in range(12)] + ["kind"]) + "\n")
        for label, image in zip([2, 0, 1, 2], images):
            table.write(",".join(map(str, image.reshape(-1).tolist() + [label])) + "\n")
    result, target = workspace.ingest({"file": path}, {"label_column": "kind", "input_shape": "3,2,2"})
    np.testing.assert_array_equal(open_arrays(target)["x_train"], images)
    np.testing.assert_array_equal(open_arrays(target)["y_train"], [2, 0, 1, 2])
    assert result.input_shape == [3, 2, 2]


def test_fractional_pixels_are_stored_float32(workspace):
    path = workspace.path("f.csv")
    path.write_text("label,a,b,c,d\n0,0.5,1,2,3\n1,4,5,6,7.25\n")
    _, target = workspace.ingest({"file": path})
    stored = open_arrays(target)["x_train"]
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored.reshape(2, 4), [[0.5, 1, 2, 3], [4, 5, 6, 7.25]])


@pytest.mark.parametrize("text, options, status, fragment, loc", [
    ("label,a,b,c,d\n0,1,2,3,4\n1,1,x,3,4\n", {}, 422, "line 3, column 3", ["file", 3]),
    ("label,a,b,c,d\n0,1,2,3,4\n1,1,2,3\n", {}, 422, "line 3 has 4 columns", ["file", 3]),
    ("label,a,b,c,d\n0.5,1,2,3,4\n", {}, 422, "whole numbers", ["file", "label", 0]),
    ("label,a,b,c,d\n0,1,nan,3,4\n", {}, 422, "NaN", ["file", 0]),
    ("label,a,b,c\n0,1,2,3\n", {}, 400, "not a square", ["input_shape"]),
    ("label,a,b,c,d\n0,1,2,3,4\n", {"input_shape": "1,3,3"}, 422, "holds 9 values", ["input_shape"]),
    ("label,a,b,c,d\n0,1,2,3,4\n", {"input_shape": "1;2;2"}, 400, "three positive", ["input_shape"]),
    ("label,a,b,c,d\n0,1,2,3,4\n", {"label_column": "target"}, 400, "label_column", ["label_column"]),
    ("label,a,b,c,d\n", {}, 422, "no rows", ["file"]),
])
def test_bad_tables_are_rejected(workspace, text, options, status, fragment, loc):
    path = workspace.path("bad.csv")
    path.write_text(text)
    error = workspace.rejected({"file": path}, options)
    assert (error.status, error.loc) == (status, loc)
    assert fragment in error.detail
