"""`convforge train`, `convforge jobs`, `convforge status`: submit and watch jobs over the REST API."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.cli.follow import FINAL_STATES, follow_job, outcome_lines
from services.cli.rest import ApiClient, ApiError
from shared.config import load_settings
from shared.jobs import DEFAULT_LEARNING_RATES, DEFAULT_MOMENTUM, TrainParams, default_optimizer

# Shown in --help only: an option left out is not sent, and the API fills in the job contract's default.
DEFAULTS = TrainParams()


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    if command == "train":
        parser.add_argument("definition", type=Path, help="network definition (JSON file)")
        parser.add_argument("--dataset", required=True,
                            help="a dataset id, or a file to upload first (.npz, IDX, CSV, zip of image folders)")
        parser.add_argument("--epochs", type=int, help=f"default {DEFAULTS.epochs}")
        parser.add_argument("--batch-size", type=int, help=f"images per step (default {DEFAULTS.batch_size})")
        parser.add_argument("--optimizer", choices=tuple(DEFAULT_LEARNING_RATES), help="default sgd")
        parser.add_argument("--lr", type=float, help="learning rate (default " + ", ".join(
            f"{rate:g} for {kind}" for kind, rate in DEFAULT_LEARNING_RATES.items()) + ")")
        parser.add_argument("--momentum", type=float, help=f"sgd only (default {DEFAULT_MOMENTUM:g})")
        parser.add_argument("--workers", type=int, help="processes per step (default: the worker decides)")
        parser.add_argument("--seed", type=int, help=f"default {DEFAULTS.seed}")
        parser.add_argument("--validation-split", type=float, help=f"default {DEFAULTS.validation_split:g}")
        parser.add_argument("--no-follow", action="store_true", help="print the job id and return at once")
    elif command == "jobs":
        parser.add_argument("--status", help="only jobs in this state (or states, comma-separated)")
        parser.add_argument("--limit", type=int, default=20)
    elif command == "status":
        parser.add_argument("job_id", type=int)


def run(command: str, args: argparse.Namespace) -> int:
    client = ApiClient(load_settings().api_url)
    try:
        if command == "train":
            return train(client, args)
        if command == "jobs":
            return list_jobs(client, args.status, args.limit)
        return show_status(client, args.job_id)
    except ApiError as exc:
        print(f"convforge {command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nconvforge {command}: stopped following; the job keeps running on the server", file=sys.stderr)
        return 130


def read_definition(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ApiError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ApiError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def dataset_id_for(client: ApiClient, dataset: str) -> int:
    if dataset.isdigit():
        return int(dataset)
    path = Path(dataset)
    if not path.is_file():
        raise ApiError(f"--dataset {dataset}: neither a dataset id nor a file")
    uploaded = client.upload("/datasets", path)
    print(f"dataset {uploaded['id']} uploaded: {uploaded['num_samples']} samples, "
          f"input {uploaded['input_shape']}, {uploaded['num_classes']} classes", file=sys.stderr)
    return uploaded["id"]


def optimizer_spec(args: argparse.Namespace) -> dict | None:
    """The optimizer the options ask for, or None when they name none (the job's default applies)."""
    if args.optimizer is None and args.lr is None and args.momentum is None:
        return None
    spec = default_optimizer(args.optimizer or "sgd")
    if args.lr is not None:
        spec["lr"] = args.lr
    if args.momentum is not None and spec["type"] == "sgd":
        spec["momentum"] = args.momentum
    return spec


def train_params(args: argparse.Namespace) -> dict:
    """The parameters the options set; the API fills in the rest and stores them all."""
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": optimizer_spec(args),
             "seed": args.seed, "validation_split": args.validation_split, "workers": args.workers}
    return {name: value for name, value in given.items() if value is not None}


def train(client: ApiClient, args: argparse.Namespace) -> int:
    definition = read_definition(args.definition)
    dataset_id = dataset_id_for(client, args.dataset)
    network = client.post("/networks", definition)
    print(client.get_text(f"/networks/{network['id']}/summary", format="text"))
    job = client.post("/jobs", {"kind": "train", "network_id": network["id"], "dataset_id": dataset_id,
                                "params": train_params(args)})
    print(f"job {job['id']} queued: {client.base_url}{job['url']}", file=sys.stderr)
    if args.no_follow:
        print(job["id"])
        return 0
    job = follow_job(client, job["id"])
    print("\n".join(outcome_lines(job)))
    return 0 if job["status"] == "succeeded" else 1


def list_jobs(client: ApiClient, status: str | None, limit: int) -> int:
    page = client.get("/jobs", status=status, limit=limit)
    print(f"{'id':>5}  {'kind':<8}  {'status':<9}  {'progress':>8}  {'epoch':>7}  {'loss':>8}  {'acc':>6}  network")
    for job in page["items"]:
        progress, latest = job["progress"], job.get("latest_metrics") or {}
        loss = f"{latest['loss']:.4f}" if latest.get("loss") is not None else "-"
        accuracy = f"{latest['accuracy']:.3f}" if latest.get("accuracy") is not None else "-"
        epoch = f"{progress['epoch']}/{progress['epochs']}" if progress["epochs"] else "-"
        network = (job.get("network") or {}).get("name", "-")
        print(f"{job['id']:>5}  {job['kind']:<8}  {job['status']:<9}  {progress['fraction']:>7.0%}  {epoch:>7}  "
              f"{loss:>8}  {accuracy:>6}  {network}")
    if not page["items"]:
        print("(no jobs)")
    return 0


def show_status(client: ApiClient, job_id: int) -> int:
    job = client.get(f"/jobs/{job_id}")
    progress = job["progress"]
    print(f"job {job['id']} ({job['kind']}): {job['status']}, attempt {job['attempt']}")
    if job.get("network"):
        print(f"network {job['network']['id']} {job['network']['name']}; dataset {job['dataset']['id']} "
              f"{job['dataset']['name']}")
    if progress["steps"]:
        eta = f", eta {progress['eta_seconds']:.0f}s" if progress.get("eta_seconds") and job["status"] == "running" else ""
        print(f"progress: epoch {progress['epoch']}/{progress['epochs']}, step {progress['step']}/{progress['steps']} "
              f"({progress['fraction']:.0%}){eta}")
    for key, value in (job.get("latest_metrics") or {}).items():
        if value is not None:
            print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    if job["status"] in FINAL_STATES:
        print("\n".join(outcome_lines(job)[1:]))
    return 0
