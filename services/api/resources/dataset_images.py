"""One stored sample of a dataset as a PNG, by split and index: what evaluations point at (their
misclassified indices) and what the Model page picks from the test set. Indices, never copies.

The split's arrays are read from the artifact store: memory-mapped in place from a local folder, or
downloaded to scratch files for the request from a remote store."""
from __future__ import annotations

import numpy as np
from flask import Blueprint, Response

from services.api.extensions import settings, store
from services.api.problems import not_found
from services.api.resources.datasets import load_dataset
from services.api.route_table import api_route
from shared.inference.tiles import png_bytes, stretch
from shared.storage import ObjectMissing
from shared.storage.files import fetched, scratch_dir

bp = Blueprint("dataset_images", __name__, url_prefix="/api/v1/datasets")
SPLITS = ("train", "test")


@api_route(bp, "/<id:dataset_id>/images/<split>/<int:index>",
           summary="One sample of a split as a PNG; its class index in the X-Class-Index header",
           media_types=("image/png",), problems=(404,))
def get_image(dataset_id: int, split: str, index: int):
    dataset = load_dataset(dataset_id)
    missing = not_found(f"Sample {split}/{index} of dataset", dataset_id)
    if split not in SPLITS:
        raise missing
    sample, label = _stored_sample(f"{dataset.path}/x_{split}.npy", f"{dataset.path}/y_{split}.npy", index,
                                   missing)
    pixels = sample if sample.dtype == np.uint8 else stretch(sample)
    if pixels.ndim == 1:
        pixels = pixels[None, :]
    else:
        pixels = pixels[0] if pixels.shape[0] != 3 else pixels.transpose(1, 2, 0)
    response = Response(png_bytes(np.ascontiguousarray(pixels)), mimetype="image/png")
    response.headers["X-Class-Index"] = str(label)
    response.cache_control.max_age = 3600
    return response


def _stored_sample(x_key: str, y_key: str, index: int, missing) -> tuple[np.ndarray, int]:
    scratch = scratch_dir(settings())
    try:
        with fetched(store(), x_key, scratch) as x_path, fetched(store(), y_key, scratch) as y_path:
            if not x_path.is_file() or not y_path.is_file():
                raise missing
            samples = np.load(x_path, mmap_mode="r", allow_pickle=False)
            if index >= len(samples):
                raise missing
            labels = np.load(y_path, mmap_mode="r", allow_pickle=False)
            return np.array(samples[index]), int(labels[index])
    except ObjectMissing:
        raise missing from None
