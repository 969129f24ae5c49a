"""Small uploads that expand must not take the API's memory: each parser holds what it is bounded by,
checked from headers before anything is decoded, and one process parses a bounded number at once.
Memory is measured in a fresh process per request (tests/hostile/measure.py)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from services.api.ingest_slots import EXTENSION_KEY, RETRY_AFTER_SECONDS
from shared.limits import MAX_DECODED_IMAGE_PIXELS, MAX_IMAGE_VALUES
from tests.hostile import crafted
from tests.hostile.measure import measure

pytestmark = pytest.mark.slow


def upload_request(data: bytes, filename: str, **form) -> dict:
    return {"path": "/api/v1/datasets", "files": {"file": (data, filename)}, "form": form}


def test_a_gzipped_idx_expands_on_disk_not_in_memory():
    count, side = 60_000, 40  # 96 MB of pixels from about 100 kB
    result = measure({"path": "/api/v1/datasets", "form": {}, "files": {
        "images": (crafted.idx_images_gz(count, side, side), "i.idx.gz"),
        "labels": (crafted.idx_labels_gz(count), "l.idx.gz")}})
    assert result["status"] == 201, result["body"]
    assert result["peak_anon_mb"] < 48, result


def test_a_csv_line_past_the_image_limit_is_refused_before_it_is_split():
    result = measure(upload_request(crafted.single_line_csv(MAX_IMAGE_VALUES + 1), "x.csv"))
    assert result["status"] == 413 and f"more than the limit of {MAX_IMAGE_VALUES}" in result["body"], result
    assert result["peak_anon_mb"] < 48, result


def test_a_csv_of_one_large_image_is_parsed_in_bounded_chunks():
    result = measure(upload_request(crafted.single_line_csv(1_000_000), "x.csv", input_shape="1,1000,1000"))
    assert result["status"] == 201, result["body"]
    # The row as text (2 MB) and as float64 (8 MB) and the image as bytes; never a Python object per value.
    assert result["peak_anon_mb"] < 64, result


def test_huge_pngs_are_refused_from_their_headers_whatever_the_resize_target():
    result = measure(upload_request(crafted.zip_of_big_pngs(4, 12_000), "x.zip", resize="8x8"))
    assert result["status"] == 413, result["body"]
    assert f"at most {MAX_DECODED_IMAGE_PIXELS}" in result["body"]
    assert result["seconds"] < 5 and result["peak_anon_mb"] < 48, result


def test_decoded_sizes_not_the_resize_target_count_against_the_expansion_limit():
    # 4 grey 2000x2000 images decode to 16 MB, though resized they would hold 256 bytes.
    result = measure(upload_request(crafted.zip_of_big_pngs(4, 2000), "x.zip", resize="8x8"),
                     env={"MAX_EXPANDED_BYTES": str(10_000_000)})
    assert result["status"] == 413, result["body"]
    assert "decoded at their own size" in result["body"] and "more than the limit of 10000000" in result["body"]


def test_uploads_past_the_parsing_slots_get_503_with_retry_after(app, client):
    slots = app.extensions[EXTENSION_KEY]
    data = crafted.npz_bytes(crafted.tiny_images(), np.array([0, 1, 0, 1]))
    held = [slots.held() for _ in range(slots.count)]
    for slot in held:
        slot.__enter__()
    try:
        response = client.post("/api/v1/datasets", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(data), "x.npz")})
        assert response.status_code == 503 and response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "MAX_CONCURRENT_INGESTS" in response.json["detail"]
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    response = client.post("/api/v1/datasets", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "x.npz")})
    assert response.status_code == 201
