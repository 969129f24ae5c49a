"""Following a job from the terminal: a tqdm bar over its steps with loss and accuracy, until the job
reaches a final state; then its outcome in a few lines."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

from services.cli.rest import ApiClient

FINAL_STATES = ("succeeded", "failed", "cancelled")
POLL_SECONDS = 0.5


def follow_job(client: ApiClient, job_id: int) -> dict:
    """Poll the job until it ends; returns its last view."""
    bar = tqdm(total=1, unit="step", desc=f"job {job_id} queued", dynamic_ncols=True, file=sys.stderr)
    try:
        while True:
            job = client.get(f"/jobs/{job_id}")
            _draw(bar, job)
            if job["status"] in FINAL_STATES:
                return job
            time.sleep(POLL_SECONDS)
    finally:
        bar.close()


def _draw(bar: tqdm, job: dict) -> None:
    progress, latest = job["progress"], job.get("latest_metrics") or {}
    if progress["steps"] and bar.total != progress["steps"]:
        bar.total = progress["steps"]
    bar.n = progress["steps"] if job["status"] == "succeeded" and progress["steps"] else progress["step"]
    bar.set_description(f"job {job['id']} {job['status']}", refresh=False)
    postfix = {}
    if progress["epochs"]:
        postfix["epoch"] = f"{progress['epoch']}/{progress['epochs']}"
    for key, label in (("loss", "loss"), ("accuracy", "acc"), ("val_accuracy", "val_acc")):
        if latest.get(key) is not None:
            postfix[label] = f"{latest[key]:.4f}"
    bar.set_postfix(postfix, refresh=False)
    bar.refresh()


def outcome_lines(job: dict) -> list[str]:
    """What a person wants to read when a job has ended."""
    lines = [f"job {job['id']} ({job['kind']}): {job['status']}"]
    if job.get("error"):
        lines.append(f"error: {job['error']}")
    result = job.get("result") or {}
    if "accuracy" in result:
        lines.append(f"{result.get('split', 'test')} accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
        lines.extend(_per_class(result))
    if job.get("model_id"):
        lines.append(f"model {job['model_id']}: /api/v1/models/{job['model_id']}/download")
    return lines


def _per_class(result: dict) -> list[str]:
    classes = result.get("per_class") or []
    if not classes or not isinstance(classes, list):
        return []
    rows = ["  class                 precision  recall     f1"]
    for entry in classes:
        rows.append(f"  {str(entry.get('name', entry.get('class', '')))[:20]:<20}  "
                    f"{entry.get('precision', 0):9.4f}  {entry.get('recall', 0):6.4f}  {entry.get('f1', 0):5.4f}")
    return rows
