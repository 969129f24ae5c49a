"""The train task's body: claim, load, record the parameters it runs with, train, test, save the model,
finish."""
from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy.orm import Session

from shared.checksums import file_sha256
from shared.cnn import save_model
from shared.config import Settings
from shared.db.models import Dataset, Job, Model, Network
from shared.db.session import session_scope
from shared.jobs import TrainParams, resolved_params
from shared.logs import job_context
from shared.storage import ArtifactStore, open_store
from shared.storage.files import scratch_dir, scratch_file
from shared.storage.keys import new_model_key
from worker import metrics
from worker.lifecycle.claim import Claim, claim_job, waiting_or_skipped
from worker.lifecycle.errors import JobFailed
from worker.lifecycle.lease import JobLease, heartbeat_seconds
from worker.lifecycle.outcome import job_outcome
from worker.training.dataset_cache import DatasetCache
from worker.training.job_checkpoints import JobCheckpoints
from worker.training.memory import check_fits
from worker.training.params import parse_train_params
from worker.training.run import TrainingData, TrainingRun
from worker.training.scoring import split_report


def run_train_job(job_id: int, worker_name: str, settings: Settings, stop_requested: threading.Event) -> str:
    """Returns 'skipped' when this delivery must not run the job, 'waiting' when it must run later (its
    owner's running jobs quota), else the outcome's status."""
    claim = claim_job(settings.database_url, job_id, worker_name, settings.job_lease_seconds,
                      settings.max_lost_attempts, settings.quota_running_jobs)
    if not isinstance(claim, Claim):
        return waiting_or_skipped(claim)
    lease = JobLease(settings.database_url, claim)
    store, scratch = open_store(settings), scratch_dir(settings)
    checkpoints = JobCheckpoints(store, lease, None, scratch)
    started = time.monotonic()
    with job_context(job_id, claim.attempt), job_outcome(lease, checkpoints) as outcome, \
            lease.kept_alive(heartbeat_seconds(settings)), ExitStack() as held:
        with session_scope(settings.database_url) as session:
            job = session.get(Job, job_id)
            network, dataset = session.get(Network, job.network_id), session.get(Dataset, job.dataset_id)
            session.expunge_all()
        metrics.job_started("train", job.created_at, claim.attempt)
        checkpoints.latest = job.checkpoint_path
        params = parse_train_params(job.params)
        check_fits(network.definition, "train", params.batch_size, settings.worker_memory_bytes, params.workers,
                   params.scoring_batch_size)
        arrays = held.enter_context(DatasetCache.from_settings(settings, store).open(dataset.path, dataset.sha256))
        data = TrainingData(arrays["x_train"], arrays["y_train"], dataset.channel_mean, dataset.channel_std)
        try:
            run = TrainingRun(network.definition, data, params, lease, checkpoints, stop_requested)
        except ValueError as exc:  # e.g. a validation split that leaves no training samples
            raise JobFailed(f"cannot start training: {exc}") from exc
        # The row says what this worker decided (processes, log interval), before any step runs.
        lease.check_in(params=resolved_params(run.params))
        net = run.run()
        result = _test_result(net, arrays, dataset, lease, run.params)
        model_key, sha256, size_bytes = _store_model(net, store, scratch, network, dataset, job_id, result,
                                                     run.params)

        def add_model(session: Session) -> dict:
            model = Model(owner_id=job.owner_id, network_id=network.id, dataset_id=dataset.id, job_id=job_id,
                          path=model_key,
                          sha256=sha256, size_bytes=size_bytes, metrics=result)
            session.add(model)
            session.flush()
            return {"model_id": model.id}

        try:  # the row is what makes the stored model reachable; without it the object is litter
            lease.finish("succeeded", add_rows=add_model, result=result, eta_seconds=0.0)
        except BaseException:
            store.discard([model_key])
            raise
    metrics.job_ended("train", outcome.status, time.monotonic() - started)
    return outcome.status


def _test_result(net, arrays: dict, dataset: Dataset, lease: JobLease, params: TrainParams) -> dict:
    """Loss, accuracy and the per-class report on the test split; empty when the dataset has none."""
    if "x_test" not in arrays:
        return {}
    return split_report(net, arrays["x_test"], arrays["y_test"], dataset.channel_mean, dataset.channel_std,
                        dataset.class_names, "test", between_chunks=lease.check_in,
                        batch_size=params.scoring_batch_size, mirror=params.test_time_flip)


def _store_model(net, store: ArtifactStore, scratch: Path, network: Network, dataset: Dataset, job_id: int,
                 result: dict, params: TrainParams) -> tuple[str, str, int]:
    """Write the model file, store it whole; returns its key, checksum and size."""
    key = new_model_key()
    with scratch_file(scratch, "model.npz") as path:
        save_model(path, net, {
            "mean": list(dataset.channel_mean), "std": list(dataset.channel_std),
            "class_names": list(dataset.class_names), "dataset_id": dataset.id, "network_id": network.id,
            "job_id": job_id, "input_shape": list(dataset.input_shape),
            "test_accuracy": result.get("accuracy"), "test_time_flip": params.test_time_flip,
        })
        sha256, size_bytes = file_sha256(path), path.stat().st_size
        store.put_file(key, path)
    return key, sha256, size_bytes

