"""Status, time and peak memory of the API for each hostile input of tests/hostile, one fresh process per
case (so the peak belongs to that request alone).

    PYTHONPATH=. python benchmarks/hostile_inputs.py            # every case
    PYTHONPATH=. python benchmarks/hostile_inputs.py csv-line   # some
"""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np

from tests.hostile import crafted

TINY = {"name": "t", "input_shape": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]}


def _layer(extra: dict) -> dict:
    return {**TINY, "layers": [extra, {"type": "flatten"}, {"type": "dense", "units": 2}]}


def _json(path: str, body) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"path": path, "json": raw}


def _upload(data: bytes, filename: str, **form) -> dict:
    return {"path": "/api/v1/datasets", "files": {"file": (data, filename)}, "form": form}


# Each case builds its request (in the parent process, so building it costs the measured one nothing).
CASES = {
    "json-deep": lambda: _json("/api/v1/networks/validate", crafted.deep_json()),
    "json-infinity": lambda: _json("/api/v1/networks/validate",
                                   _layer({"type": "batchnorm", "eps": float("inf")})),
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
    "classes-duplicate": lambda: _upload(crafted.npz_bytes(crafted.tiny_images(), np.array([0, 1, 0, 1]),
                                                           classes=np.array(["a", "a"])), "x.npz"),
    "classes-control-chars": lambda: _upload(crafted.npz_bytes(crafted.tiny_images(), np.array([0, 1, 0, 1])),
                                             "x.npz", classes="a\x00,b"),
    "class-name-40mb": lambda: _upload(crafted.huge_class_name(), "x.npz"),
    "csv-line-45mb": lambda: _upload(crafted.single_line_csv(22_000_000), "x.csv"),
    "csv-line-2m-values": lambda: _upload(crafted.single_line_csv(), "x.csv", input_shape="1,1000,2000"),
    "png-40-of-12000x12000-resize": lambda: _upload(crafted.zip_of_big_pngs(40), "x.zip", resize="8x8"),
    "png-8-of-6000x6000-resize": lambda: _upload(crafted.zip_of_big_pngs(8, 6000), "x.zip", resize="8x8"),
    "idx-gz-bomb": lambda: {"path": "/api/v1/datasets", "form": {}, "files": {
        "images": (crafted.idx_images_gz(100_000, 40, 40), "i.idx.gz"),
        "labels": (crafted.idx_labels_gz(100_000), "l.idx.gz")}},
}


def send(client, request: dict):
    if "json" in request:
        return client.post(request["path"], data=request["json"], content_type="application/json")
    data = {field: (io.BytesIO(content), filename) for field, (content, filename) in request["files"].items()}
    return client.post(request["path"], data={**data, **request["form"]}, content_type="multipart/form-data")


def memory_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def reset_peak_rss() -> int:
    """Start the peak (VmHWM) afresh at the current RSS, and return that RSS in kB (Linux)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return memory_kb("VmRSS")


def run_one(request_file: str) -> dict:
    from services.api.app import create_app
    from shared.config import load_settings
    from shared.db.migrate import upgrade_to_head

    settings = load_settings()
    upgrade_to_head(settings.database_url)
    client = create_app(settings).test_client()
    client.get("/api/v1/health")
    with open(request_file, "rb") as handle:
        request = pickle.load(handle)
    before = reset_peak_rss()
    start = time.monotonic()
    response = send(client, request)
    elapsed = time.monotonic() - start
    peak = memory_kb("VmHWM")
    body = response.get_data(as_text=True)
    return {"status": response.status_code, "seconds": round(elapsed, 2),
            "peak_rss_growth_mb": round((peak - before) / 1024), "detail": body[:160]}


def main(names: list[str]) -> None:
    if os.environ.get("HOSTILE_CASE"):
        print(json.dumps(run_one(os.environ["HOSTILE_CASE"])))
        return
    print(f"| case | status | seconds | peak RSS growth (MB) |\n|---|---|---|---|")
    for name in names or CASES:
        with tempfile.TemporaryDirectory() as tmp:
            with open(f"{tmp}/request.pickle", "wb") as handle:
                pickle.dump(CASES[name](), handle)
            env = {**os.environ, "HOSTILE_CASE": f"{tmp}/request.pickle", "CONVFORGE_VAR_DIR": tmp,
                   "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite", "ARTIFACT_DIR": f"{tmp}/artifacts"}
            done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=600)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(f"| {name} | crashed | | | {done.stderr[-300:]!r}")
                continue
            row = json.loads(lines[-1])
            print(f"| {name} | {row['status']} | {row['seconds']} | {row['peak_rss_growth_mb']} |"
                  f"  {row['detail'][:120]!r}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
