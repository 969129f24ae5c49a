"""Does the API stay responsive under abuse? Starts a real API under gunicorn (as `convforge api` does, with
Redis and a migrated SQLite database), then at once sends 4 large dataset uploads and 4 pathological network
definitions to validate, while probing `GET /health` every 100 ms. Prints the health latencies while idle and
under load, and what each abusive request got.

    PYTHONPATH=. python benchmarks/health_under_abuse.py [--upload-mb 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.processes import Services  # noqa: E402

HEALTH_BUDGET_SECONDS = 1.0
PATHOLOGICAL = [
    {"name": "huge-kernel", "input_shape": [1, 1, 1],
     "layers": [{"type": "conv2d", "filters": 1, "kernel_size": [10000, 1], "padding": [10000, 0]}]},
    {"name": "huge-padding", "input_shape": [1, 1, 1],
     "layers": [{"type": "conv2d", "filters": 1, "kernel_size": [1000000, 1], "padding": [1000000, 0]}]},
    {"name": "strided", "input_shape": [1, 100000, 1],
     "layers": [{"type": "conv2d", "filters": 1, "kernel_size": [1, 1], "stride": [2, 1]}] * 100},
    {"name": "widest", "input_shape": [1, 4, 4], "layers": [{"type": "relu"}] * 1000},
]


def large_csv(folder: Path, megabytes: int) -> Path:
    """A CSV of 28x28 images (label, then 784 pixel columns) of about `megabytes`."""
    rows = megabytes * 1024 * 1024 // (785 * 4)
    rng = np.random.default_rng(0)
    table = np.concatenate([np.arange(rows)[:, None] % 10, rng.integers(100, 256, (rows, 784))], axis=1)
    path = folder / "large.csv"
    np.savetxt(path, table, fmt="%d", delimiter=",", header=",".join(["label"] + [f"p{i}" for i in range(784)]),
               comments="")
    return path


def probe(api: str, stop: threading.Event, latencies: list[tuple[float, float, int]]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            status = requests.get(f"{api}/api/v1/health", timeout=30).status_code
        except requests.RequestException:
            status = 0
        latencies.append((started, time.monotonic() - started, status))
        stop.wait(0.1)


def timed(action):
    started = time.monotonic()
    response = action()
    return response.status_code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upload-mb", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = large_csv(root, args.upload_mb)
        services = Services(root, {"DATABASE_URL": f"sqlite:///{root / 'convforge.db'}",
                                   "ARTIFACT_DIR": str(root / "artifacts"), "CONVFORGE_VAR_DIR": str(root / "var"),
                                   "CONVFORGE_RATE_UPLOADS": "1000 per minute"})
        try:
            services.start_redis()
            services.migrate()
            api = services.start_api()
            headers = {"Authorization": f"Bearer {services.token}"}
            latencies: list[tuple[float, float, int]] = []
            stop = threading.Event()
            prober = threading.Thread(target=probe, args=(api, stop, latencies))
            prober.start()
            time.sleep(3)
            load_started = time.monotonic()

            def upload(index: int):
                with open(csv, "rb") as handle:
                    return timed(lambda: requests.post(f"{api}/api/v1/datasets", headers=headers,
                                                       files={"file": (f"large{index}.csv", handle)},
                                                       data={"input_shape": "1,28,28"}, timeout=600))

            def validate(definition: dict):
                return timed(lambda: requests.post(f"{api}/api/v1/networks/validate", headers=headers,
                                                   json=definition, timeout=600))

            with ThreadPoolExecutor(8) as pool:
                uploads = [pool.submit(upload, index) for index in range(4)]
                checks = [pool.submit(validate, definition) for definition in PATHOLOGICAL]
                results = [("upload", f"{csv.stat().st_size / 2**20:.0f} MB CSV #{i + 1}", *f.result())
                           for i, f in enumerate(uploads)]
                results += [("validate", definition["name"], *f.result()) for definition, f in zip(PATHOLOGICAL, checks)]
            load_ended = time.monotonic()
            time.sleep(1)
            stop.set()
            prober.join()
        finally:
            services.close()
    idle = [lat for at, lat, _ in latencies if at < load_started]
    loaded = [lat for at, lat, _ in latencies if load_started <= at <= load_ended]
    statuses = sorted({status for at, _, status in latencies if load_started <= at <= load_ended})
    print(f"{'GET /health':<22}{'probes':>8}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}  statuses")
    for label, values in (("idle", idle), ("under abuse", loaded)):
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")
        print(f"{label:<22}{len(values):>8}{statistics.median(values) * 1000:>11.0f}{p95 * 1000:>9.0f}"
              f"{max(values) * 1000:>9.0f}  {statuses if label == 'under abuse' else ''}")
    print(f"\n{'abusive request':<34}{'status':>7}{'seconds':>9}")
    for kind, name, status, seconds in results:
        print(f"{kind + ' ' + name:<34}{status:>7}{seconds:>9.2f}")
    worst = max(loaded) if loaded else float("inf")
    print(f"\nslowest /health under abuse: {worst:.2f} s (budget {HEALTH_BUDGET_SECONDS:.0f} s) -> "
          f"{'OK' if worst <= HEALTH_BUDGET_SECONDS else 'OVER BUDGET'}")
    return 0 if worst <= HEALTH_BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
