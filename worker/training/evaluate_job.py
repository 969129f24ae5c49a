"""The evaluate task's body: claim, load the model, score it on the dataset's test split (or on all of
its samples when it has none), store loss, accuracy, per-class report and confusion matrix."""
from __future__ import annotations

import time
from contextlib import ExitStack

from shared.cnn import load_model
from shared.config import Settings
from shared.db.models import Dataset, Job, Model, Network
from shared.db.session import session_scope
from shared.inference.prediction import trained_with_test_time_flip
from shared.logs import job_context
from shared.storage import open_store
from shared.storage.files import fetched, scratch_dir
from worker import metrics
from worker.lifecycle.claim import Claim, claim_job, waiting_or_skipped
from worker.lifecycle.errors import JobFailed
from worker.lifecycle.lease import JobLease, heartbeat_seconds
from worker.lifecycle.outcome import job_outcome
from worker.training.dataset_cache import DatasetCache
from worker.training.memory import check_fits
from worker.training.params import parse_evaluate_params
from worker.training.scoring import split_report


def run_evaluate_job(job_id: int, worker_name: str, settings: Settings) -> str:
    claim = claim_job(settings.database_url, job_id, worker_name, settings.job_lease_seconds,
                      settings.max_lost_attempts, settings.quota_running_jobs)
    if not isinstance(claim, Claim):
        return waiting_or_skipped(claim)
    lease = JobLease(settings.database_url, claim)
    store = open_store(settings)
    started = time.monotonic()
    with job_context(job_id, claim.attempt), job_outcome(lease) as outcome, \
            lease.kept_alive(heartbeat_seconds(settings)), ExitStack() as held:
        with session_scope(settings.database_url) as session:
            job = session.get(Job, job_id)
            model = session.get(Model, job.model_id) if job.model_id is not None else None
            dataset = session.get(Dataset, job.dataset_id)
            network = session.get(Network, model.network_id) if model is not None else None
            session.expunge_all()
        metrics.job_started("evaluate", job.created_at, claim.attempt)
        if model is None:
            raise JobFailed(f"evaluate job {job_id} names no model (model_id={job.model_id})")
        params = parse_evaluate_params(job.params)
        check_fits(network.definition, "evaluate", params.batch_size, settings.worker_memory_bytes)
        with fetched(store, model.path, scratch_dir(settings)) as model_file:
            net, metadata = load_model(model_file)
        arrays = held.enter_context(DatasetCache.from_settings(settings, store).open(dataset.path, dataset.sha256))
        split = "test" if "x_test" in arrays else "train"
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        expected = tuple(metadata.get("input_shape") or x.shape[1:])
        if tuple(x.shape[1:]) != expected:
            raise JobFailed(f"dataset {dataset.id} has samples of shape {list(x.shape[1:])} but model "
                            f"{model.id} takes {list(expected)}")
        lease.check_in(step=0, steps=1)
        # The model's own normalisation: the statistics of the data it was trained on.
        result = split_report(net, x, y, metadata["mean"], metadata["std"],
                              metadata.get("class_names") or dataset.class_names, split,
                              between_chunks=lease.check_in, batch_size=params.batch_size,
                              mirror=_mirrored(params.test_time_flip, metadata))
        lease.finish("succeeded", result=result, step=1, steps=1, eta_seconds=0.0)
    metrics.job_ended("evaluate", outcome.status, time.monotonic() - started)
    return outcome.status


def _mirrored(asked: bool | None, metadata: dict) -> bool:
    """The job's choice, else the model's own: how its train job scored it."""
    return trained_with_test_time_flip(metadata) if asked is None else asked
