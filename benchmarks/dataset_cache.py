"""Time a fresh worker needs before its first training step on the full Fashion-MNIST (60,000 training
images) kept in S3-compatible storage: with an empty dataset cache (download, verify, memory-map) and
with the dataset already cached on the machine (verify, memory-map).

    python benchmarks/dataset_cache.py [--rounds 3]

Uses ARTIFACT_URL (and the AWS_* variables) when set; otherwise starts moto's S3 server on this machine,
so "download" there is a local HTTP transfer, the floor of what a real network gives. Needs Debian's
dataset-fashion-mnist. Each round builds LeNet-5 and runs one step at batch 64, as a job's first step.
Times run from the job's start (the claim) and leave out the worker process's own start-up.

Measured on the 2-core development machine (moto on the same machine, other test suites running), the
median of 3 rounds, 60,000 + 10,000 images, 55 MB of arrays:

    cache   arrays ready s   first step done s
    cold              1.13                1.65    download 55 MB, verify the checksum, memory-map
    warm              0.29                0.48    verify the checksum, memory-map

The warm time is almost all the checksum (SHA-256 over 55 MB), which catches a damaged cached copy.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from shared.cnn import Trainer, build_network  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.data import IngestLimits, Upload, ingest  # noqa: E402
from shared.data.pipeline import prepare_batch  # noqa: E402
from shared.storage import open_store  # noqa: E402
from worker.training.dataset_cache import DatasetCache  # noqa: E402

FOLDER = Path("/usr/share/datasets/fashion-mnist")
IDX_PARTS = {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz",
             "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
DATASET_PATH = "datasets/fashion-mnist-benchmark"
BATCH = 64


def publish(store, settings, scratch: Path):
    uploads = [Upload(field, name, FOLDER / name) for field, name in IDX_PARTS.items()]
    ingested = ingest(uploads, {}, scratch / "dataset", IngestLimits.from_settings(settings))
    store.publish_folder(DATASET_PATH, scratch / "dataset")
    return ingested


def first_step(cache: DatasetCache, sha256: str, mean, std) -> tuple[float, float]:
    """Seconds to the memory-mapped arrays, and to the end of the first step."""
    started = time.perf_counter()
    with cache.open(DATASET_PATH, sha256) as arrays:
        opened = time.perf_counter() - started
        net = build_network(json.loads((ROOT / "examples" / "lenet5.json").read_text()), seed=1)
        trainer = Trainer(net, {"type": "sgd", "lr": 0.01}, None, total_steps=1)
        chosen = np.sort(np.random.default_rng(1).permutation(len(arrays["y_train"]))[:BATCH])
        trainer.train_step(prepare_batch(arrays["x_train"][chosen], mean, std, augment=None,
                                         rng=np.random.default_rng(0)), np.asarray(arrays["y_train"][chosen]))
        return opened, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not FOLDER.is_dir():
        print(f"{FOLDER} not found: apt-get install dataset-fashion-mnist", file=sys.stderr)
        return 1
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cache-bench-")))
        if not os.environ.get("ARTIFACT_URL"):
            from tests.support.s3 import s3_server

            server = stack.enter_context(s3_server())
            os.environ.update({**server.env, "ARTIFACT_URL": server.new_bucket_url()})
        settings = load_settings()
        store = open_store(settings)
        ingested = publish(store, settings, scratch)
        sha256, mean, std = ingested.sha256, ingested.channel_mean, ingested.channel_std
        print(f"store: {settings.artifact_url}  dataset: {ingested.num_samples:,} + {ingested.num_test_samples:,} "
              f"images, {ingested.size_bytes / 1e6:.1f} MB of arrays ({sha256[:12]})")
        print(f"{'round':>5}  {'cache':<5}  {'arrays ready s':>14}  {'first step done s':>17}")
        rows = {"cold": [], "warm": []}
        for round_ in range(1, args.rounds + 1):
            cache_dir = scratch / f"cache-{round_}"
            cache = DatasetCache(store, cache_dir, 10 * 1024**3)
            for kind in ("cold", "warm"):
                opened, done = first_step(cache, sha256, mean, std)
                rows[kind].append((opened, done))
                print(f"{round_:>5}  {kind:<5}  {opened:>14.2f}  {done:>17.2f}")
            shutil.rmtree(cache_dir)
        for kind, values in rows.items():
            opened, done = np.median(np.array(values), axis=0)
            print(f"median {kind}: arrays ready {opened:.2f}s, first step done {done:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
