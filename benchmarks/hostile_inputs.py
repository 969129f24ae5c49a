"""Status, time and memory of the API for each hostile input of tests/hostile, one fresh process per
case (tests/hostile/measure.py), as a Markdown table.

    PYTHONPATH=. python benchmarks/hostile_inputs.py            # every case
    PYTHONPATH=. python benchmarks/hostile_inputs.py csv-line-45mb png-40-of-12000x12000-resize
"""
from __future__ import annotations

import json
import sys

import numpy as np

from tests.hostile import crafted
from tests.hostile.measure import measure

TINY = {"name": "t", "input_shape": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]}


def _layer(extra: dict) -> dict:
    return {**TINY, "layers": [extra, {"type": "flatten"}, {"type": "dense", "units": 2}]}


def _json(path: str, body) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"path": path, "json": raw}


def _upload(data: bytes, filename: str, **form) -> dict:
    return {"path": "/api/v1/datasets", "files": {"file": (data, filename)}, "form": form}


def _idx(count: int, rows: int, cols: int) -> dict:
    return {"path": "/api/v1/datasets", "form": {}, "files": {
        "images": (crafted.idx_images_gz(count, rows, cols), "i.idx.gz"),
        "labels": (crafted.idx_labels_gz(count), "l.idx.gz")}}


_LABELS = np.array([0, 1, 0, 1])
# Each case builds its request in this process, so building it costs the measured one nothing.
CASES = {
    "json-deep": lambda: _json("/api/v1/networks/validate", crafted.deep_json()),
    "json-infinity": lambda: _json("/api/v1/networks/validate", _layer({"type": "batchnorm", "eps": float("inf")})),
    "input-shape-string": lambda: _json("/api/v1/networks/validate", {**TINY, "input_shape": ["1", 8, 8]}),
    "input-shape-true": lambda: _json("/api/v1/networks/validate", {**TINY, "input_shape": [True, 8, 8]}),
    "dropout-rate-false": lambda: _json("/api/v1/networks/validate", _layer({"type": "dropout", "rate": False})),
    "name-newline": lambda: _json("/api/v1/networks", {**TINY, "name": "a\nb"}),
    "npz-negative-dims": lambda: _upload(crafted.npz_with_x_shape("(-1, -4, 1, 4)", 16), "x.npz"),
    "npz-overflow-dims": lambda: _upload(crafted.npz_with_x_shape("(4294967296, 4294967296, 1, 1)"), "x.npz"),
    "zero-size-images": lambda: _upload(crafted.zero_size_images(), "x.npz"),
    "csv-one-column": lambda: _upload(crafted.one_column_csv(), "x.csv"),
    "class-names-not-utf8": lambda: _upload(crafted.non_utf8_class_names(), "x.npz"),
    "labels-past-int64": lambda: _upload(crafted.labels_past_int64(), "x.npz"),
    "classes-duplicate": lambda: _upload(crafted.npz_bytes(crafted.tiny_images(), _LABELS,
                                                           classes=np.array(["a", "a"])), "x.npz"),
    "classes-control-chars": lambda: _upload(crafted.npz_bytes(crafted.tiny_images(), _LABELS), "x.npz",
                                             classes="a\x00,b"),
    "class-name-40mb": lambda: _upload(crafted.huge_class_name(), "x.npz"),
    "csv-line-45mb": lambda: _upload(crafted.single_line_csv(22_000_000), "x.csv"),
    "csv-line-2m-values": lambda: _upload(crafted.single_line_csv(), "x.csv", input_shape="1,1000,2000"),
    "png-40-of-12000x12000-resize": lambda: _upload(crafted.zip_of_big_pngs(40), "x.zip", resize="8x8"),
    "png-8-of-6000x6000-resize": lambda: _upload(crafted.zip_of_big_pngs(8, 6000), "x.zip", resize="8x8"),
    "idx-gz-160mb": lambda: _idx(100_000, 40, 40),
}


def main(names: list[str]) -> None:
    print("| case | status | seconds | peak RSS growth (MB) | peak anonymous memory growth (MB) |\n"
          "|---|---|---|---|---|")
    for name in names or CASES:
        row = measure(CASES[name]())
        print(f"| {name} | {row['status']} | {row['seconds']} | {row['peak_rss_mb']} | {row['peak_anon_mb']} |",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
