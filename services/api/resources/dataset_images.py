"""One stored sample of a dataset as a PNG, by split and index: what evaluations point at (their
misclassified indices) and what the Model page picks from the test set. Indices, never copies."""
from __future__ import annotations

import numpy as np
from flask import Blueprint, Response

from services.api.problems import not_found
from services.api.resources.datasets import dataset_folder, load_dataset
from services.api.route_table import api_route
from shared.data.store import open_arrays
from shared.inference.tiles import png_bytes, stretch

bp = Blueprint("dataset_images", __name__, url_prefix="/api/v1/datasets")
SPLITS = ("train", "test")


@api_route(bp, "/<id:dataset_id>/images/<split>/<int:index>",
           summary="One sample of a split as a PNG; its class index in the X-Class-Index header",
           media_types=("image/png",), problems=(404,))
def get_image(dataset_id: int, split: str, index: int):
    dataset = load_dataset(dataset_id)
    arrays = open_arrays(dataset_folder(dataset)) if split in SPLITS else {}
    if f"x_{split}" not in arrays or index >= len(arrays[f"x_{split}"]):
        raise not_found(f"Sample {split}/{index} of dataset", dataset_id)
    sample = np.asarray(arrays[f"x_{split}"][index])
    label = int(arrays[f"y_{split}"][index])
    pixels = sample if sample.dtype == np.uint8 else stretch(sample)
    if pixels.ndim == 1:
        pixels = pixels[None, :]
    else:
        pixels = pixels[0] if pixels.shape[0] != 3 else pixels.transpose(1, 2, 0)
    response = Response(png_bytes(np.ascontiguousarray(pixels)), mimetype="image/png")
    response.headers["X-Class-Index"] = str(label)
    response.cache_control.max_age = 3600
    return response
