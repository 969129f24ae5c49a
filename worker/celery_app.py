"""The worker's Celery application: `celery -A worker.celery_app worker --pool=solo`.

Tasks take a job id; the job row says what to do. Run with the solo pool, one job per worker process:
Celery's prefork children are daemonic and may not start processes (celery issue 1709), and the
data-parallel trainer starts its own processes inside the task. Scale by running more workers
(`docker-compose up --scale worker=N`), each using `workers` processes per job.
"""
from __future__ import annotations

import logging
import threading

from celery.exceptions import Reject
from celery.signals import after_setup_logger, after_setup_task_logger, worker_ready, worker_shutdown

from shared.config import load_settings
from shared.jobs import EVALUATE_TASK, TRAIN_TASK
from shared.logs import use_log_format
from shared.queue import make_celery
from shared.storage import open_store
from worker.housekeeping.presence import start_presence
from worker.housekeeping.reaper import start_reaper
from worker.housekeeping.shutdown import stop_requested
from worker.lifecycle.job_message import accepted_job_id
from worker.lifecycle.running_quota import RETRY_SECONDS
from worker.metrics import serve_metrics
from worker.training.allocator import keep_freed_memory
from worker.training.evaluate_job import run_evaluate_job
from worker.training.train_job import run_train_job

log = logging.getLogger(__name__)

celery_app = make_celery()
# A message the worker cannot read is logged and dropped instead of stopping the worker.
celery_app.conf.broker_transport = "worker.broker_transport:Transport"
_housekeeping_stopping = threading.Event()


@celery_app.task(name=TRAIN_TASK, bind=True)
def train(self, job_id: int) -> str:
    settings = load_settings()
    if accepted_job_id(TRAIN_TASK, "train", job_id, settings.database_url) is None:
        return "refused"
    status = run_train_job(job_id, self.request.hostname, settings, stop_requested)
    log.info("train job %s: %s", job_id, status)
    if status == "waiting":
        _deliver_later(self)
    if status == "requeued":
        # The worker is shutting down: the message goes back to the queue (acks_late) for the next worker.
        raise Reject("worker shutting down; job checkpointed and queued again", requeue=True)
    return status


@celery_app.task(name=EVALUATE_TASK, bind=True)
def evaluate(self, job_id: int) -> str:
    settings = load_settings()
    if accepted_job_id(EVALUATE_TASK, "evaluate", job_id, settings.database_url) is None:
        return "refused"
    status = run_evaluate_job(job_id, self.request.hostname, settings)
    log.info("evaluate job %s: %s", job_id, status)
    if status == "waiting":
        _deliver_later(self)
    return status


def _deliver_later(task) -> None:
    """The job stays queued over its owner's running jobs quota: send its message again with a countdown
    (same task id and priority) and acknowledge this one (worker/lifecycle/running_quota.py)."""
    raise task.retry(countdown=RETRY_SECONDS, max_retries=None)


@worker_ready.connect
def _keep_freed_memory(**_kwargs) -> None:
    keep_freed_memory()  # this process trains (--pool=solo)


@worker_ready.connect
def _start_housekeeping(sender, **_kwargs) -> None:
    settings = load_settings()
    start_reaper(settings.database_url, open_store(settings), settings.job_lease_seconds,
                 lambda task, job_id: celery_app.send_task(task, args=[job_id]), _housekeeping_stopping,
                 settings.max_lost_attempts, broker_url=settings.broker_url)
    start_presence(settings.broker_url, sender.hostname, settings.job_lease_seconds, _housekeeping_stopping)
    serve_metrics(settings.worker_metrics_port)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger, **_kwargs) -> None:
    use_log_format(load_settings().log_format, logger.handlers)


@worker_shutdown.connect
def _stop_housekeeping(**_kwargs) -> None:
    _housekeeping_stopping.set()
