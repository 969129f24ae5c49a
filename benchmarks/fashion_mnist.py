"""Fashion-MNIST through the platform: upload, train and test over the REST API (queue, worker, engine).

    python benchmarks/fashion_mnist.py [--runs fast_sgd,resnet_long] [--api URL] [--validate]

With --validate each run holds out a seeded 10% of the training set and prints the accuracy on it
(the worker's last validation score), not the test accuracy: choose configurations that way, then
run the chosen ones without --validate to measure the test set once.

Needs a running stack (`convforge up`) and Debian's dataset-fashion-mnist. The full 60,000/10,000
dataset is uploaded once (found again by its checksum). Each run posts its network from examples/,
queues a train job, follows it to the end and prints the test accuracy the worker measured on the
10,000 test images, with the wall time from POST /jobs to the finished job and the job's own running time.

Configurations are chosen with --validate (two candidates at a time with `--workers 1`: the
computation is the same with any number of processes, only its time changes), then the chosen
ones run once without it. The README's benchmark section has the tables as measured.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.cli.rest import ApiClient, ApiError  # noqa: E402
from shared.config import load_settings  # noqa: E402

FOLDER = Path("/usr/share/datasets/fashion-mnist")
IDX_PARTS = {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz",
             "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
CLASSES = "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
# Checksum of the stored arrays of the full dataset (see shared/data/store.py).
FULL_SHA256 = "1a762fb77342f95d2a0074eb241952e44de0d6b2b084fdef3470f79860f47a2d"
POLL_SECONDS = 5

# name -> (network definition in examples/, train job parameters)
RUNS = {
    "lenet5": ("lenet5.json", {
        "epochs": 6, "batch_size": 64, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "adam", "lr": 0.002}, "schedule": {"type": "cosine"}}),
    # The 10-minute configuration: 2 conv + pooling + batch norm, no regularisation, 6 epochs.
    "fast": ("fashion_mnist_fast.json", {
        "epochs": 6, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "adam", "lr": 0.002}, "schedule": {"type": "cosine"}}),
    # The same network for longer, with horizontal flips against overfitting.
    "fast_flip": ("fashion_mnist_fast.json", {
        "epochs": 15, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "adam", "lr": 0.002}, "schedule": {"type": "cosine"},
        "augment": {"flip": True}}),
    # The same network with random crops (2 pixels of padding) and flips, for 25 epochs.
    "fast_augmented": ("fashion_mnist_fast.json", {
        "epochs": 25, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "adam", "lr": 0.002}, "schedule": {"type": "cosine"},
        "augment": {"crop_padding": 2, "flip": True}}),
    # Wider dense layer, dropout, crop and flip augmentation, 15 epochs.
    "wide": ("fashion_mnist_wide.json", {
        "epochs": 15, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "adam", "lr": 0.002}, "schedule": {"type": "cosine"},
        "augment": {"crop_padding": 2, "flip": True}}),
    # Candidates for the 6-minute target: the fast network with label smoothing, crops and flips,
    # Adam or SGD with Nesterov momentum, warm-up then cosine. Every candidate is scored on the mean
    # outputs for each image and its mirror image (test_time_flip), which the validation split chose.
    "fast_adam": ("fashion_mnist_fast.json", {
        "epochs": 11, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "adam", "lr": 0.002}, "schedule": {"type": "cosine", "warmup_steps": 100},
        "label_smoothing": 0.1, "augment": {"crop_padding": 2, "flip": True}, "test_time_flip": True}),
    "fast_sgd": ("fashion_mnist_fast.json", {
        "epochs": 11, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "schedule": {"type": "cosine", "warmup_steps": 100}, "label_smoothing": 0.1,
        "augment": {"crop_padding": 2, "flip": True}, "test_time_flip": True}),
    # Candidates for the 30-minute target: four 3x3 convolutions with batchnorm and dropout, or the
    # residual network (16-32-64, two blocks a stage); SGD with Nesterov momentum, warm-up then
    # cosine, label smoothing, crops, flips and random erasing.
    "vgg_long": ("fashion_mnist_vgg.json", {
        "epochs": 18, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "schedule": {"type": "cosine", "warmup_steps": 200}, "label_smoothing": 0.1,
        "augment": {"crop_padding": 2, "flip": True, "erase": 0.25}, "test_time_flip": True}),
    "resnet_long": ("resnet_small.json", {
        "epochs": 15, "batch_size": 128, "validation_split": 0.0, "seed": 0, "workers": 2,
        "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "schedule": {"type": "cosine", "warmup_steps": 400}, "label_smoothing": 0.1,
        "augment": {"crop_padding": 2, "flip": True, "erase": 0.25}, "test_time_flip": True}),
}
VALIDATION_SPLIT = 0.1


def fashion_mnist_id(client: ApiClient) -> int:
    cursor = None
    while True:
        page = client.get("/datasets", limit=500, cursor=cursor)
        for dataset in page["items"]:
            if dataset["sha256"] == FULL_SHA256:
                return dataset["id"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    parts = {field: FOLDER / name for field, name in IDX_PARTS.items()}
    return client.upload_parts("/datasets", parts, name="fashion-mnist", classes=CLASSES)["id"]


def train(client: ApiClient, run: str, dataset_id: int, epochs: int | None, workers: int | None,
          validate: bool) -> dict:
    network_file, params = RUNS[run]
    definition = json.loads((ROOT / "examples" / network_file).read_text())
    network = client.post("/networks", definition)
    params = params | ({"epochs": epochs} if epochs else {}) | ({"workers": workers} if workers else {})
    params = params | ({"validation_split": VALIDATION_SPLIT} if validate else {})
    started = time.monotonic()
    job = client.post("/jobs", {"kind": "train", "network_id": network["id"], "dataset_id": dataset_id,
                                "params": params})
    while job["status"] in ("queued", "running"):
        time.sleep(POLL_SECONDS)
        job = client.get(f"/jobs/{job['id']}")
        progress = job["progress"]
        print(f"  {run}: job {job['id']} {job['status']} epoch {progress['epoch']}/{progress['epochs']} "
              f"step {progress['step']}/{progress['steps']} {job['latest_metrics']}", file=sys.stderr)
    if job["status"] != "succeeded":
        raise SystemExit(f"{run}: job {job['id']} {job['status']}: {job['error']}")
    accuracy = job["latest_metrics"]["val_accuracy"] if validate else job["result"]["accuracy"]
    return {"run": run, "network": network_file, "params": network["total_params"], "epochs": params["epochs"],
            "accuracy": accuracy, "wall_seconds": time.monotonic() - started,
            "job_seconds": job["timings"]["duration_seconds"], "job_id": job["id"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=load_settings().api_url, help="API base URL (CONVFORGE_API_URL)")
    parser.add_argument("--runs", default="fast_sgd,resnet_long", help=f"comma separated, of {', '.join(RUNS)}")
    parser.add_argument("--epochs", type=int, help="override every run's epochs")
    parser.add_argument("--workers", type=int, help="override every run's worker processes (training is the same "
                        "computation with any number; only the time changes)")
    parser.add_argument("--validate", action="store_true",
                        help=f"hold out a share of {VALIDATION_SPLIT} of the training set and report accuracy on it")
    args = parser.parse_args()
    client = ApiClient(args.api)
    try:
        dataset_id = fashion_mnist_id(client)
        rows = [train(client, run, dataset_id, args.epochs, args.workers, args.validate) for run in args.runs.split(",")]
    except ApiError as exc:
        raise SystemExit(f"fashion_mnist: {exc}") from None
    column = "val acc" if args.validate else "test acc"
    print(f"{'run':<16} {'network':<24} {'params':>8} {'epochs':>6} {column:>8} {'wall s':>8} {'job s':>8}")
    for row in rows:
        print(f"{row['run']:<16} {row['network']:<24} {row['params']:>8} {row['epochs']:>6} "
              f"{row['accuracy']:>8.4f} {row['wall_seconds']:>8.0f} {row['job_seconds']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
