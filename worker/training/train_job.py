"""The train task's body: claim, load, record the parameters it runs with, train, test, save the model,
finish."""
from __future__ import annotations

import hashlib
import threading
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from shared.cnn import save_model
from shared.config import Settings
from shared.data.store import open_arrays
from shared.db.models import Dataset, Job, Model, Network
from shared.db.session import session_scope
from shared.jobs import resolved_params
from worker.lifecycle.claim import claim_job
from worker.lifecycle.errors import JobFailed
from worker.lifecycle.lease import JobLease, heartbeat_seconds
from worker.lifecycle.outcome import job_outcome
from worker.training.checkpoint import checkpoint_path
from worker.training.memory import check_fits
from worker.training.params import parse_train_params
from worker.training.run import TrainingData, TrainingRun
from worker.training.scoring import split_report


def run_train_job(job_id: int, worker_name: str, settings: Settings, stop_requested: threading.Event) -> str:
    """Returns 'skipped' when this delivery must not run the job, else the outcome's status."""
    claim = claim_job(settings.database_url, job_id, worker_name, settings.job_lease_seconds,
                      settings.max_lost_attempts)
    if claim is None:
        return "skipped"
    lease = JobLease(settings.database_url, claim)
    checkpoint_file = checkpoint_path(settings.artifact_dir, job_id)
    with job_outcome(lease, checkpoint_file) as outcome, lease.kept_alive(heartbeat_seconds(settings)):
        with session_scope(settings.database_url) as session:
            job = session.get(Job, job_id)
            network, dataset = session.get(Network, job.network_id), session.get(Dataset, job.dataset_id)
            session.expunge_all()
        params = parse_train_params(job.params)
        check_fits(network.summary, params.batch_size, settings.worker_memory_bytes)
        arrays = open_arrays(settings.artifact_dir / dataset.path)
        data = TrainingData(arrays["x_train"], arrays["y_train"], dataset.channel_mean, dataset.channel_std)
        try:
            run = TrainingRun(network.definition, data, params, lease, checkpoint_file, stop_requested)
        except ValueError as exc:  # e.g. a validation split that leaves no training samples
            raise JobFailed(f"cannot start training: {exc}") from exc
        # The row says what this worker decided (processes, log interval), before any step runs.
        lease.check_in(params=resolved_params(run.params))
        net = run.run()
        result = _test_result(net, arrays, dataset, lease, run.params.scoring_batch_size)
        model_file = _save(net, settings.artifact_dir, network, dataset, job_id, result)

        def add_model(session: Session) -> dict:
            model = Model(network_id=network.id, dataset_id=dataset.id, job_id=job_id,
                          path=str(model_file.relative_to(settings.artifact_dir)), sha256=_sha256(model_file),
                          size_bytes=model_file.stat().st_size, metrics=result)
            session.add(model)
            session.flush()
            return {"model_id": model.id}

        lease.finish("succeeded", add_rows=add_model, result=result, eta_seconds=0.0)
    return outcome.status


def _test_result(net, arrays: dict, dataset: Dataset, lease: JobLease, batch_size: int) -> dict:
    """Loss, accuracy and the per-class report on the test split; empty when the dataset has none."""
    if "x_test" not in arrays:
        return {}
    return split_report(net, arrays["x_test"], arrays["y_test"], dataset.channel_mean, dataset.channel_std,
                        dataset.class_names, "test", between_chunks=lease.check_in, batch_size=batch_size)


def _save(net, artifact_dir: Path, network: Network, dataset: Dataset, job_id: int, result: dict) -> Path:
    models_dir = Path(artifact_dir) / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{uuid.uuid4()}.npz"
    save_model(target, net, {  # written to a temporary file, then renamed
        "mean": list(dataset.channel_mean), "std": list(dataset.channel_std),
        "class_names": list(dataset.class_names), "dataset_id": dataset.id, "network_id": network.id,
        "job_id": job_id, "input_shape": list(dataset.input_shape),
        "test_accuracy": result.get("accuracy"),
    })
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
